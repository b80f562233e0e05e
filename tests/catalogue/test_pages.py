"""The learner catalogue pages (home, category, course, lesson, search) through the test client."""
from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

from sqlalchemy import select

from app.accounts.models import User
from app.catalogue import services
from app.catalogue.models import CourseState, VideoAsset
from app.db import utcnow
from app.extensions import db


def html(resp) -> str:
    assert resp.status_code == 200, resp.status_code
    return resp.get_data(as_text=True)


def section(page: str, start_marker: str, end_marker: str | None = None) -> str:
    """The part of the page from start_marker up to end_marker (or the end)."""
    i = page.index(start_marker)
    j = page.index(end_marker, i) if end_marker else len(page)
    return page[i:j]


def tile(page: str, category_id: int) -> str:
    m = re.search(rf'<a class="tile[^"]*" href="/courses/category/{category_id}">.*?</a>', page, re.S)
    assert m, f"no tile for category {category_id}"
    return m.group(0)


def _org():
    return db.session.scalar(select(User).where(User.username == "org"))


def make_course(app, sample_files, title, category_id, *, required=False, ranks=("county", "township", "other"),
                publish=True, later_by=None) -> int:
    """A course with one lesson playing the sample video, published unless told otherwise."""
    rel, res = sample_files
    with app.test_request_context():
        org = _org()
        c = services.create_course(org, services.CourseInfo(
            title=title, category_id=category_id, lecturer="周讲师", description="测试用课程。",
            class_hours=2, credits=5, required=required, target_ranks=list(ranks)))
        lesson = services.add_lesson(org, c, "第一讲 概述", "")
        lesson.video = VideoAsset(storage_dir=rel, duration=res.duration, width=res.width, height=res.height,
                                  size_bytes=res.size_bytes, origin="sample")
        db.session.flush()
        if publish:
            services.set_course_state(org, c, CourseState.PUBLISHED)
            if later_by:
                c.published_at = utcnow() + later_by
        db.session.commit()
        return c.id


# --- catalogue home ---------------------------------------------------------------------

def test_home_lists_categories_local_module_counts_and_required_course(cadre_api, catalogue):
    page = html(cadre_api.get("/courses/"))
    politics = tile(page, catalogue.politics)
    assert "政治理论" in politics and "1 门课程" in politics  # the draft is not counted for a cadre
    auto = tile(page, catalogue.auto)
    assert "汽车制造" in auto and "1 门课程" in auto
    # 汽车制造 is a local-feature module: it sits in the highlighted band, not among the subjects
    band = section(page, 'class="local-band"', "必修课程")
    assert f"/courses/category/{catalogue.auto}" in band
    assert f"/courses/category/{catalogue.politics}" not in band
    required = section(page, "必修课程", "最新课程")
    assert "新时代党的建设总要求" in required
    assert f'href="/courses/{catalogue.party}"' in required
    assert "新能源汽车产业发展与政策" not in required  # an elective
    newest = section(page, "最新课程")
    assert "新能源汽车产业发展与政策" in newest and "新时代党的建设总要求" in newest
    assert "尚未发布的课程草稿" not in page
    # the course card shows the poster of the first lesson with a video
    assert f"/media/lessons/{catalogue.lesson}/{catalogue.asset}.jpg" in page


def test_empty_and_retired_categories_are_hidden_from_learners_but_shown_to_org(app, cadre_api, org_api, catalogue):
    with app.test_request_context():
        empty = services.create_category(_org(), code="empty-cat", name="空的分类", kind="subject")
        db.session.commit()
        empty_id = empty.id
    cadre_page = html(cadre_api.get("/courses/"))
    assert "空的分类" not in cadre_page
    org_page = html(org_api.get("/courses/"))
    assert "0 门课程" in tile(org_page, empty_id)
    # the organisation department also sees the draft: two courses in 政治理论
    assert "2 门课程" in tile(org_page, catalogue.politics)
    assert "尚未发布的课程草稿" in org_page


def test_required_courses_for_the_cadres_rank_come_first(app, sample_files, cadre_api, catalogue):
    # 李明 is 乡科级 (township). The county-only course is newer, so without the rank rule it would lead.
    township = make_course(app, sample_files, "乡镇干部履职必修", catalogue.politics, required=True,
                           ranks=("township",))
    county = make_course(app, sample_files, "县处级干部专题必修", catalogue.politics, required=True,
                         ranks=("county",), later_by=timedelta(hours=1))
    required = section(html(cadre_api.get("/courses/")), "必修课程", "最新课程")
    assert f'href="/courses/{county}"' in required  # still listed, after the rank's own courses
    assert required.index(f'href="/courses/{township}"') < required.index(f'href="/courses/{county}"')
    assert "优先列出适用于您职级(乡科级)的课程" in required


def test_catalogue_needs_login(app, catalogue):
    for url in ("/courses/", f"/courses/{catalogue.party}", "/courses/search?q=党建"):
        r = app.test_client().get(url)
        assert r.status_code == 302
        assert r.headers["Location"].startswith("/login")


def test_nav_and_cadre_home_link_to_the_catalogue(cadre_api, catalogue):
    page = html(cadre_api.get("/"))
    assert '<a href="/courses/">课程中心</a>' in page  # top navigation
    panel = section(page, "开始学习", "我的资料")
    assert 'href="/courses/"' in panel and 'action="/courses/search"' in panel and 'name="q"' in panel
    assert "即将开放" not in page


# --- draft visibility --------------------------------------------------------------------

def test_draft_course_is_404_for_cadre_and_shown_with_badge_to_org(cadre_api, org_api, catalogue):
    r = cadre_api.get(f"/courses/{catalogue.draft}")
    assert r.status_code == 404
    assert "尚未发布的课程草稿" not in r.get_data(as_text=True)
    page = html(org_api.get(f"/courses/{catalogue.draft}"))
    assert "尚未发布的课程草稿" in page and "草稿" in section(page, 'class="course-badges"', "</div>")
    assert "本课程视频尚未上传" in page  # its only lesson has no video


def test_lesson_without_video_says_so(org_api, catalogue):
    course = html(org_api.get(f"/courses/{catalogue.draft}"))
    lesson_url = re.search(rf'href="(/courses/{catalogue.draft}/lessons/\d+)"', course).group(1)
    page = html(org_api.get(lesson_url))
    assert "本课时视频尚未上传" in page and "<video" not in page


# --- category page -----------------------------------------------------------------------

def test_category_page_filters_required_and_elective(cadre_api, catalogue):
    page = html(cadre_api.get(f"/courses/category/{catalogue.politics}"))
    assert "新时代党的建设总要求" in page and "尚未发布的课程草稿" not in page
    assert "新能源汽车产业发展与政策" not in page  # another category

    page = html(cadre_api.get(f"/courses/category/{catalogue.politics}?required=1"))
    assert "新时代党的建设总要求" in page
    assert re.search(r'<a href="[^"]*required=1" class="active">必修', page)
    page = html(cadre_api.get(f"/courses/category/{catalogue.politics}?required=0"))
    assert "新时代党的建设总要求" not in page and "该分类下暂无选修课程" in page

    page = html(cadre_api.get(f"/courses/category/{catalogue.auto}?required=0"))
    assert "新能源汽车产业发展与政策" in page
    page = html(cadre_api.get(f"/courses/category/{catalogue.auto}?required=1"))
    assert "新能源汽车产业发展与政策" not in page and "该分类下暂无必修课程" in page


def test_category_page_paginates_keeping_the_category(app, sample_files, cadre_api, catalogue):
    for i in range(12):  # 13 in all with the car course; 12 a page
        make_course(app, sample_files, f"汽车专题选修课 {i:02d}", catalogue.auto)
    first = html(cadre_api.get(f"/courses/category/{catalogue.auto}"))
    assert first.count('class="ccard"') == 12
    assert "第 1 / 2 页,共 13 条" in first
    next_url = unescape(re.search(r'<a href="([^"]+)">下一页', first).group(1))
    assert f"/courses/category/{catalogue.auto}" in next_url and "page=2" in next_url
    second = html(cadre_api.get(next_url))
    assert second.count('class="ccard"') == 1 and "上一页" in second


def test_unknown_or_retired_category_is_404_for_learners(app, cadre_api, org_api, catalogue):
    assert cadre_api.get("/courses/category/999999").status_code == 404
    with app.test_request_context():
        org = _org()
        services.retire_category(org, services.get_category(catalogue.auto))
        db.session.commit()
    assert cadre_api.get(f"/courses/category/{catalogue.auto}").status_code == 404
    home = html(cadre_api.get("/courses/"))
    assert f'href="/courses/category/{catalogue.auto}"' not in home  # no tile any more
    assert "新能源汽车产业发展与政策" in home  # its courses stay reachable
    page = html(org_api.get(f"/courses/category/{catalogue.auto}"))
    assert "已停用" in page and "新能源汽车产业发展与政策" in page


# --- course and lesson pages -------------------------------------------------------------

def test_course_page_shows_facts_lessons_and_first_video(cadre_api, catalogue):
    page = html(cadre_api.get(f"/courses/{catalogue.party}"))
    assert "新时代党的建设总要求" in page and "赵建国" in page and "政治理论" in page
    assert "全面从严治党与基层党组织建设。" in page
    assert "县处级及以上、乡科级、其他" in page  # target ranks
    lessons = re.findall(rf'href="/courses/{catalogue.party}/lessons/(\d+)"', page)
    assert str(catalogue.lesson) in lessons and len(set(lessons)) == 2
    assert page.index("第一讲 党的政治建设") < page.index("第二讲 基层组织建设")
    assert re.search(r'<span class="ld">00:0[2-4]</span>', page)  # the 3-second sample, as mm:ss
    assert f'src="/media/lessons/{catalogue.lesson}/{catalogue.asset}.mp4"' in page
    start = re.search(r'<a class="btn primary big" href="([^"]+)">▶ 开始学习', page)
    assert start and start.group(1) == f"/courses/{catalogue.party}/lessons/{catalogue.lesson}"
    assert "必修" in section(page, 'class="course-badges"', "</div>")
    assert "结业考试" not in page  # no exam settings for this course


def test_course_page_shows_exam_settings_when_present(app, cadre_api, catalogue):
    from app.exams.models import ExamSetting

    with app.test_request_context():
        db.session.add(ExamSetting(course_id=catalogue.party, question_count=15, time_limit_minutes=40, pass_mark=80))
        db.session.commit()
    page = html(cadre_api.get(f"/courses/{catalogue.party}"))
    assert "随机抽取 15 题,限时 40 分钟,80 分及格" in page


def test_lesson_page_plays_the_video(cadre_api, catalogue):
    page = html(cadre_api.get(f"/courses/{catalogue.party}/lessons/{catalogue.lesson}"))
    video = re.search(r"<video[^>]*>", page).group(0)
    assert "controls" in video and 'preload="metadata"' in video
    assert f'poster="/media/lessons/{catalogue.lesson}/{catalogue.asset}.jpg"' in video
    src = re.search(r'<source src="([^"]+)" type="video/mp4">', page).group(1)
    r = cadre_api.get(src)
    assert r.status_code == 200 and r.mimetype == "video/mp4"
    assert r.get_data()[4:8] == b"ftyp"
    # the lesson list beside the player marks the current lesson, and there is a next link
    current = re.search(r'<li class="current">.*?</li>', page, re.S).group(0)
    assert "第一讲 党的政治建设" in current
    nxt = re.search(r'href="([^"]+)">下一课时', page).group(1)
    second = html(cadre_api.get(nxt))
    assert "第二讲 基层组织建设" in re.search(r'<li class="current">.*?</li>', second, re.S).group(0)
    assert re.search(rf'href="/courses/{catalogue.party}/lessons/{catalogue.lesson}">‹ 上一课时', second)
    assert "已是最后一课时" in second


def test_lesson_of_another_course_is_404(cadre_api, catalogue):
    assert cadre_api.get(f"/courses/{catalogue.car}/lessons/{catalogue.lesson}").status_code == 404
    assert cadre_api.get(f"/courses/{catalogue.party}/lessons/999999").status_code == 404


# --- search ------------------------------------------------------------------------------

def test_search_finds_the_car_course_with_highlights(cadre_api, catalogue):
    page = html(cadre_api.get("/courses/search?q=汽车"))
    assert "找到 1 门课程" in page
    hit = section(page, '<ol class="hits">', "</ol>")
    assert f'href="/courses/{catalogue.car}"' in hit
    assert "<mark>汽车</mark>" in hit
    assert "新时代党的建设总要求" not in hit


def test_search_category_filter(cadre_api, catalogue):
    page = html(cadre_api.get(f"/courses/search?q=汽车&category={catalogue.politics}"))
    assert "没有找到与“汽车”相关的课程" in page
    assert f'<option value="{catalogue.politics}" selected>' in page
    assert 'href="/courses/search?q=' in page  # suggestion: search all categories
    page = html(cadre_api.get(f"/courses/search?q=汽车&category={catalogue.auto}"))
    assert "找到 1 门课程" in page


def test_search_without_results_shows_a_friendly_message(cadre_api, catalogue):
    page = html(cadre_api.get("/courses/search?q=量子纠缠"))
    assert "没有找到与“量子纠缠”相关的课程" in page
    assert '<ol class="hits">' not in page
    assert 'href="/courses/"' in section(page, "noresult")


def test_empty_search_shows_form_and_popular_categories(cadre_api, catalogue):
    page = html(cadre_api.get("/courses/search?q="))
    assert 'name="q"' in page and "热门分类" in page
    assert f'href="/courses/category/{catalogue.politics}"' in page
    assert "找到" not in page and "没有找到" not in page


def test_search_escapes_the_query(cadre_api, catalogue):
    r = cadre_api.get("/courses/search", query_string={"q": "<script>alert(1)</script>"})
    page = html(r)
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_search_query_is_capped(cadre_api, catalogue):
    page = html(cadre_api.get("/courses/search", query_string={"q": "汽车" + "x" * 300}))
    value = re.search(r'<input type="search" name="q" value="([^"]*)"', page).group(1)
    assert len(unescape(value)) == 100


def test_pages_render_in_english_too(cadre_api, catalogue):
    cadre_api.get("/locale/en")
    for url in ("/courses/", f"/courses/category/{catalogue.politics}?required=1", f"/courses/{catalogue.party}",
                f"/courses/{catalogue.party}/lessons/{catalogue.lesson}", "/courses/search?q=汽车",
                "/courses/search?q=量子纠缠", "/courses/search"):
        page = html(cadre_api.get(url))
        assert '<html lang="en">' in page, url
