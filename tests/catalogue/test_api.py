"""Catalogue and media through the JSON API."""
from __future__ import annotations


def test_cadre_lists_published_courses_only(cadre_api, catalogue):
    r = cadre_api.get("/api/v1/courses")
    assert r.status_code == 200
    titles = [c["title"] for c in r.json["items"]]
    assert "新时代党的建设总要求" in titles and "新能源汽车产业发展与政策" in titles
    assert "尚未发布的课程草稿" not in titles
    assert titles[0] == "新时代党的建设总要求"  # required first
    assert cadre_api.get(f"/api/v1/courses/{catalogue.draft}").status_code == 404


def test_list_categories_in_catalogue_order_with_counts(cadre_api, catalogue):
    r = cadre_api.get("/api/v1/categories")
    assert r.status_code == 200
    by_name = {c["name"]: c for c in r.json["items"]}
    assert by_name["政治理论"]["course_count"] == 1  # the draft is not counted for a cadre
    assert by_name["汽车制造"]["kind"] == "local"
    kinds = [c["kind"] for c in r.json["items"]]
    assert kinds == sorted(kinds, key=lambda k: k != "subject")  # subjects, then local modules


def test_list_courses_filters(cadre_api, catalogue):
    local = cadre_api.get("/api/v1/courses?kind=local").json["items"]
    assert [c["title"] for c in local] == ["新能源汽车产业发展与政策"]
    required = cadre_api.get("/api/v1/courses?required=true").json["items"]
    assert [c["title"] for c in required] == ["新时代党的建设总要求"]
    assert cadre_api.get("/api/v1/courses?kind=bogus").status_code == 400


def test_get_course_has_lessons_with_media_urls_and_no_answers(cadre_api, catalogue):
    body = cadre_api.get(f"/api/v1/courses/{catalogue.party}").json
    assert [lesson["title"] for lesson in body["lessons"]] == ["第一讲 党的政治建设", "第二讲 基层组织建设"]
    assert body["lessons"][0]["video_url"] == f"/media/lessons/{catalogue.lesson}/{catalogue.asset}.mp4"
    assert "answer" not in str(body)


def test_create_update_publish_course_through_the_api(org_api, cadre_api, catalogue):
    r = org_api.post("/api/v1/courses", json={
        "title": "数字政府建设实务", "category_id": catalogue.politics, "lecturer": "吴数",
        "class_hours": 3, "credits": 6, "lessons": [{"title": "第一讲 一网通办"}]})
    assert r.status_code == 201, r.json
    cid = r.json["id"]
    assert r.json["state"] == "draft" and r.json["lessons"][0]["video_url"] is None
    bad = org_api.patch(f"/api/v1/courses/{cid}", json={"credits": 25})
    assert bad.status_code == 400 and bad.json["field"] == "credits"
    # publishing needs a video in every lesson
    refused = org_api.patch(f"/api/v1/courses/{cid}", json={"state": "published"})
    assert refused.status_code == 422 and refused.json["code"] == "lesson_without_video"
    assert org_api.patch(f"/api/v1/courses/{cid}", json={"title": "数字政府建设实务(新版)", "required": True}).json["required"]
    assert cadre_api.get(f"/api/v1/courses/{cid}").status_code == 404
    # a cadre cannot create or change courses
    assert cadre_api.post("/api/v1/courses", json={"title": "x" * 5, "category_id": catalogue.politics,
                                                   "lecturer": "某", "class_hours": 1, "credits": 5}).status_code == 403
    assert cadre_api.patch(f"/api/v1/courses/{catalogue.party}", json={"title": "改名"}).status_code in (403, 404)


def test_search_ranks_highlights_and_filters(cadre_api, catalogue):
    r = cadre_api.get("/api/v1/courses/search", query_string={"q": "汽车"})
    assert r.status_code == 200 and r.json["total"] >= 1
    hit = r.json["hits"][0]
    assert hit["course"]["title"] == "新能源汽车产业发展与政策"
    assert "<mark>汽车</mark>" in hit["highlights"]["title"]
    # category filter
    r = cadre_api.get("/api/v1/courses/search", query_string={"q": "汽车", "category_id": catalogue.politics})
    assert r.json["hits"] == []
    # lecturer and lesson titles are searched too
    assert cadre_api.get("/api/v1/courses/search", query_string={"q": "赵建国"}).json["hits"][0]["course"]["id"] == catalogue.party
    assert cadre_api.get("/api/v1/courses/search", query_string={"q": "智能制造"}).json["hits"][0]["course"]["id"] == catalogue.car
    # drafts never appear; hostile input is harmless
    assert cadre_api.get("/api/v1/courses/search", query_string={"q": "草稿"}).json["total"] == 0
    assert cadre_api.get("/api/v1/courses/search", query_string={"q": 'title:x AND (b "' * 100}).status_code == 200
    assert cadre_api.get("/api/v1/courses/search").status_code == 400


def test_edits_reach_the_search_index_after_commit(org_api, cadre_api, catalogue):
    assert org_api.patch(f"/api/v1/courses/{catalogue.car}", json={"title": "汽车产业链招商实务"}).status_code == 200
    hits = cadre_api.get("/api/v1/courses/search", query_string={"q": "招商"}).json["hits"]
    assert [h["course"]["id"] for h in hits] == [catalogue.car]
    assert org_api.patch(f"/api/v1/courses/{catalogue.car}", json={"state": "retired"}).status_code == 200
    assert cadre_api.get("/api/v1/courses/search", query_string={"q": "招商"}).json["total"] == 0


def test_openapi_has_the_catalogue_operation_ids(app):
    spec = app.test_client().get("/api/v1/openapi.json").json
    ops = {op["operationId"] for path in spec["paths"].values() for op in path.values() if isinstance(op, dict)}
    assert {"listCategories", "listCourses", "getCourse", "createCourse", "updateCourse", "searchCourses",
            "uploadLessonVideo", "getMediaJob"} <= ops
