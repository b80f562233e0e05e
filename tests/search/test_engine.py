"""Pure tests of the catalogue search engine (no database/Flask needed except the glue test)."""
from __future__ import annotations

import re

import pytest
from flask import Flask

from app.search import get_engine, index_directory, init_app
from app.search.engine import MAX_QUERY_LENGTH, CourseDoc, SearchEngine, WhooshEngine


def doc(id, title, *, lecturer="张三", description="", category="理论教育", category_id=1,
        lessons=(), required=False) -> CourseDoc:
    return CourseDoc(id=id, title=title, lecturer=lecturer, description=description,
                     category=category, category_id=category_id, lessons=list(lessons),
                     required=required)


CATALOGUE = [
    doc(1, "乡村振兴战略的理论与实践", description="系统讲解乡村振兴的政策体系。",
        category="三农工作", category_id=3, lessons=["第一讲 战略背景", "第二讲 产业兴旺"]),
    doc(2, "新能源汽车产业发展", lecturer="王建国", description="产业政策与市场趋势。",
        category="经济发展", category_id=2),
    doc(3, "基层治理现代化", lecturer="李红梅",
        description="结合乡村振兴谈基层社会治理的创新做法。",
        category="社会治理", category_id=4,
        lessons=["枫桥经验的新时代内涵", "网格化管理"]),
    doc(4, "党史学习教育专题", lecturer="赵志强", description="<script>alert('x')</script>重温红色历史。",
        category="党性教育", category_id=1, lessons=["红船精神", "长征精神"], required=True),
    doc(5, "数字政府建设", lecturer="李红梅", description="政务服务一网通办。",
        category="经济发展", category_id=2),
]


@pytest.fixture
def engine() -> WhooshEngine:
    e = WhooshEngine(None)
    e.upsert(CATALOGUE)
    return e


def ids(result) -> list[int]:
    return [h.id for h in result.hits]


def unmark(snippet: str) -> str:
    return snippet.replace("<mark>", "").replace("</mark>", "")


def test_implements_protocol(engine):
    assert isinstance(engine, SearchEngine)


def test_chinese_word_inside_longer_title(engine):
    r = engine.search("乡村振兴")
    assert ids(r)[0] == 1
    assert 1 in ids(r) and 3 in ids(r)  # 3 mentions it in the description
    assert ids(engine.search("汽车")) == [2]
    assert ids(engine.search("新能源")) == [2]


def test_lecturer_search(engine):
    assert set(ids(engine.search("李红梅"))) == {3, 5}
    hit = engine.search("王建国").hits[0]
    assert hit.id == 2
    assert hit.highlights == {"lecturer": "<mark>王建国</mark>"}


def test_lesson_title_only_match(engine):
    r = engine.search("枫桥经验")
    assert ids(r) == [3]
    assert set(r.hits[0].highlights) == {"lessons"}
    assert "<mark>枫桥</mark>" in r.hits[0].highlights["lessons"] or \
        "<mark>枫桥经验</mark>" in r.hits[0].highlights["lessons"]
    # only the matching lesson line is shown
    assert "网格化" not in r.hits[0].highlights["lessons"]


def test_category_name_is_searchable(engine):
    assert ids(engine.search("三农")) == [1]


def test_category_filter(engine):
    assert set(ids(engine.search("李红梅"))) == {3, 5}
    r = engine.search("李红梅", category_id=2)
    assert ids(r) == [5] and r.total == 1
    assert engine.search("李红梅", category_id=4).total == 1
    assert engine.search("李红梅", category_id=99).total == 0
    assert engine.search("汽车", category_id=3).total == 0


def test_title_outranks_description_only():
    e = WhooshEngine(None)
    e.upsert([
        doc(10, "干部教育培训概论", description="本课程介绍数字经济的基本概念和发展趋势。"),
        doc(11, "数字经济", description="课程简介。"),
        doc(12, "公共管理导论", description="管理学基础知识。"),
    ])
    r = e.search("数字经济")
    assert ids(r)[:2] == [11, 10]
    assert r.hits[0].score > r.hits[1].score > 0


def test_single_term_scores_are_not_zero(engine):
    # Regression: whoosh 2.7.4's CoordMatcher zeroes scores when one term matcher exists.
    r = engine.search("汽车")
    assert r.hits[0].score > 0
    r = engine.search("精神")
    assert all(h.score > 0 for h in r.hits)


def test_more_matching_words_rank_higher(engine):
    r = engine.search("乡村振兴 战略")
    assert ids(r)[0] == 1


def test_highlight_marks_the_right_characters(engine):
    title = engine.search("乡村振兴").hits[0].highlights["title"]
    assert title.startswith("<mark>乡村振兴</mark>") or \
        title.startswith("<mark>乡村</mark><mark>振兴</mark>")
    assert unmark(title) == "乡村振兴战略的理论与实践"
    # jieba emits overlapping tokens (能源 before 新能源); the mark must cover 新能源 exactly.
    assert engine.search("新能源").hits[0].highlights == {"title": "<mark>新能源</mark>汽车产业发展"}
    assert engine.search("汽车").hits[0].highlights["title"] == "新能源<mark>汽车</mark>产业发展"
    desc = {h.id: h.highlights for h in engine.search("乡村振兴").hits}[3]["description"]
    marked = re.findall(r"<mark>(.*?)</mark>", desc)
    assert "".join(marked) == "乡村振兴"
    assert unmark(desc) in CATALOGUE[2].description


def test_only_matching_fields_are_highlighted(engine):
    hit = engine.search("汽车").hits[0]
    assert set(hit.highlights) == {"title"}


def test_html_is_escaped_in_snippets(engine):
    hit = engine.search("红色历史").hits[0]
    assert hit.id == 4
    desc = hit.highlights["description"]
    assert "&lt;script&gt;" in desc and "&lt;/script&gt;" in desc
    assert "<script" not in desc and "</script" not in desc
    assert re.sub(r"</?mark>", "", desc).count("<") == 0
    # a match inside the tag name is still escaped around the mark
    s = engine.search("script").hits[0].highlights["description"]
    assert "&lt;<mark>script</mark>&gt;" in s


@pytest.mark.parametrize("q", [
    "title:x", "a AND (b", "*", "\\", "x" * 5000, "！？。，、…", "!!!???", "()[]{}^~\"'",
    "title:乡村振兴 AND", "NOT", "OR OR", "乡村*", "\"乡村振兴", "a:b:c", "[a TO z]", "的",
    "", "   ", "\x00\n\t", "<script>",
])
def test_hostile_queries_never_raise(engine, q):
    r = engine.search(q)
    assert r.total >= 0 and isinstance(r.hits, list)


def test_syntax_is_treated_as_plain_words(engine):
    assert ids(engine.search("title:汽车")) == [2]  # "title" is just another word
    assert ids(engine.search("汽车 AND (")) == [2]
    assert engine.search("*").total == 0
    assert engine.search("   ").total == 0
    assert engine.search("!!!").total == 0


def test_query_is_cut_to_max_length(engine):
    padding = "的" * (MAX_QUERY_LENGTH - 2)
    assert ids(engine.search(padding + "汽车")) == [2]
    assert engine.search(padding + "的" + "汽车").total == 0  # 汽 is the 51st character


def test_upsert_replaces(engine):
    engine.upsert([doc(2, "城市更新与规划", lecturer="王建国", category="经济发展", category_id=2)])
    assert engine.search("汽车").total == 0
    r = engine.search("城市更新")
    assert ids(r) == [2]
    assert engine.search("王建国").total == 1  # no duplicate document
    # duplicates in one batch: the last one wins
    engine.upsert([doc(6, "旧标题一"), doc(6, "人工智能应用")])
    assert ids(engine.search("人工智能")) == [6]
    assert engine.search("旧标题").total == 0


def test_remove(engine):
    engine.remove([2, 999])
    assert engine.search("汽车").total == 0
    assert engine.search("李红梅").total == 2
    engine.remove([])


def test_rebuild_replaces_everything(engine):
    n = engine.rebuild([doc(100, "全面从严治党"), doc(101, "依法行政"), doc(101, "依法行政实务")])
    assert n == 2
    assert engine.search("乡村振兴").total == 0
    assert ids(engine.search("从严治党")) == [100]
    assert ids(engine.search("实务")) == [101]
    assert engine.rebuild([]) == 0
    assert engine.search("依法行政").total == 0


def test_pagination():
    e = WhooshEngine(None)
    e.upsert([doc(i, f"廉政教育第{i}讲") for i in range(1, 26)])
    p1 = e.search("廉政", per_page=10)
    p2 = e.search("廉政", page=2, per_page=10)
    p3 = e.search("廉政", page=3, per_page=10)
    assert (p1.total, p2.total, p3.total) == (25, 25, 25)
    assert (len(p1.hits), len(p2.hits), len(p3.hits)) == (10, 10, 5)
    assert (p2.page, p2.per_page) == (2, 10)
    all_ids = ids(p1) + ids(p2) + ids(p3)
    assert sorted(all_ids) == list(range(1, 26))
    beyond = e.search("廉政", page=4, per_page=10)
    assert beyond.total == 25 and beyond.hits == []
    # the total counts filtered matches, not just the page
    e.upsert([doc(i, f"廉政教育第{i}讲", category_id=7) for i in range(1, 13)])
    r = e.search("廉政", category_id=7, per_page=5, page=2)
    assert r.total == 12 and len(r.hits) == 5
    with pytest.raises(ValueError):
        e.search("廉政", page=0)


def test_directory_index_shared_between_engines(tmp_path):
    directory = str(tmp_path / "idx")
    writer, reader = WhooshEngine(directory), WhooshEngine(directory)
    assert reader.search("汽车").total == 0
    writer.upsert(CATALOGUE)
    assert ids(reader.search("汽车")) == [2]
    reader.upsert([doc(2, "城市更新与规划")])  # the other instance writes too
    assert writer.search("汽车").total == 0
    assert ids(writer.search("城市更新")) == [2]
    writer.remove([2])
    assert reader.search("城市更新").total == 0
    assert writer.rebuild([doc(7, "应急管理")]) == 1
    assert ids(reader.search("应急管理")) == [7]
    assert reader.search("乡村振兴").total == 0
    # a third instance opening the existing directory sees the data
    assert ids(WhooshEngine(directory).search("应急")) == [7]


def test_flask_glue(tmp_path):
    app = Flask(__name__, instance_path=str(tmp_path / "instance"))
    app.config["SEARCH_INDEX_DIR"] = None
    assert index_directory(app) == str(tmp_path / "instance" / "search-index")
    app.config["SEARCH_INDEX_DIR"] = ""
    assert index_directory(app) == str(tmp_path / "instance" / "search-index")
    app.config["SEARCH_INDEX_DIR"] = str(tmp_path / "custom")
    assert index_directory(app) == str(tmp_path / "custom")
    app.config["SEARCH_INDEX_DIR"] = ":memory:"
    assert index_directory(app) is None
    init_app(app)
    with app.app_context():
        engine = get_engine()
        assert isinstance(engine, WhooshEngine) and engine.directory is None
        engine.upsert([doc(1, "乡村振兴")])
        assert get_engine().search("乡村振兴").total == 1
