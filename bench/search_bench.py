"""Micro-benchmark of the catalogue search engine (app.search.engine.WhooshEngine).

Builds an on-disk index (in a temporary directory) of generated Chinese course documents and
times single ``engine.search`` calls the way the web layer makes them (fresh searcher per
call, page 1, 20 per page, highlights included; half of the queries with a category filter).

    .venv/bin/python bench/search_bench.py            # 10,000 docs, 300 queries
    .venv/bin/python bench/search_bench.py 2000 100   # n_docs n_queries
"""
from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from app.search.engine import CourseDoc, WhooshEngine  # noqa: E402

SEED = 20240601

# ~200 words/phrases typical of cadre-training course titles and descriptions.
VOCABULARY = """
习近平新时代中国特色社会主义思想 党的二十大精神 全面从严治党 党风廉政建设 反腐倡廉 党性修养
党史学习教育 理想信念 初心使命 红色基因 革命传统 延安精神 井冈山精神 长征精神 红船精神 西柏坡精神
新发展理念 高质量发展 新发展格局 供给侧结构性改革 乡村振兴 脱贫攻坚 共同富裕 区域协调发展
城乡融合发展 新型城镇化 生态文明建设 绿水青山就是金山银山 碳达峰碳中和 污染防治 河长制 美丽中国
数字经济 数字政府 智慧城市 人工智能 大数据 区块链 网络安全 信息化建设 电子政务 一网通办
营商环境 放管服改革 优化营商环境 民营经济 中小企业 科技创新 创新驱动发展 自主创新 知识产权 人才强国
教育强国 文化自信 社会主义核心价值观 意识形态工作 宣传思想工作 新闻舆论 网络舆情 应急管理 安全生产
防灾减灾 疫情防控 公共卫生 健康中国 基层治理 社会治理 网格化管理 枫桥经验 信访工作 矛盾纠纷化解
依法行政 法治政府 依法治国 宪法 民法典 行政诉讼 行政复议 规范性文件 合规管理 审计监督
纪律处分条例 廉洁自律准则 巡视巡察 干部监督 政治监督 作风建设 中央八项规定 形式主义 官僚主义 为民服务
群众路线 调查研究 领导能力 领导艺术 决策能力 执行力 沟通协调 公文写作 讲话稿写作 会议组织
时间管理 压力管理 心理健康 团队建设 组织管理 绩效管理 干部考核 选人用人 年轻干部 干部培训
基层党组织建设 党支部工作 三会一课 组织生活会 主题党日 党员发展 党费管理 党内法规 民主集中制 统一战线
民族团结 宗教工作 港澳台工作 外事工作 国家安全 总体国家安全观 国防教育 军民融合 粮食安全 能源安全
新能源汽车 产业发展 制造强国 先进制造业 战略性新兴产业 现代服务业 现代农业 种业振兴 农村改革 土地制度
财政管理 预算绩效 税收制度 金融风险防范 地方债务 国有企业改革 国资监管 混合所有制 资本市场 招商引资
对外开放 一带一路 自由贸易试验区 跨境电商 乡村旅游 文旅融合 历史文化保护 非物质文化遗产 公共文化服务 全民阅读
社会保障 养老服务 医疗保障 就业创业 收入分配 住房保障 教育公平 义务教育 职业教育 民生实事
经济形势分析 宏观经济 政策解读 案例教学 理论与实践 专题讲座 实务操作 能力提升 基础知识 前沿动态
""".split()

# ~60 lecturer names.
LECTURERS = """
王建国 李红梅 张志强 刘晓东 陈丽华 杨国平 赵文博 黄海燕 周振宇 吴晓明 徐立新 孙雪梅 胡卫东 朱永刚
高建华 林秀英 何明辉 郭晓峰 马丽君 罗志勇 梁晓燕 宋德胜 郑海涛 谢春兰 韩伟 唐振国 冯晓丽 于洪涛
董建军 萧文静 程志远 曹丽萍 袁国庆 邓志平 许海峰 傅晓红 沈建明 曾庆华 彭立军 吕晓春 苏振华 卢秀兰
蒋文涛 蔡晓玲 贾志刚 丁海英 魏国强 薛丽娜 叶建平 阎明 余晓军 潘国栋 杜春梅 戴志华 夏雪 钟文斌
汪海燕 田国华 任晓东 姜丽
""".split()

# 37 categories (ids 1..37).
CATEGORIES = """
理论教育 党性教育 党史教育 廉政教育 法治教育 经济发展 乡村振兴 生态文明 社会治理 应急管理
数字政府 科技创新 文化建设 民生保障 组织建设 干部能力 公文写作 心理健康 国家安全 统一战线
财政金融 国资国企 对外开放 城市建设 农业农村 教育卫生 宣传思想 群团工作 政策解读 专题讲座
领导艺术 基层工作 安全生产 营商环境 人才工作 民族宗教 综合素养
""".split()
assert len(CATEGORIES) == 37, len(CATEGORIES)


def _phrase(rng: random.Random, lo: int, hi: int, sep: str = "") -> str:
    return sep.join(rng.sample(VOCABULARY, rng.randint(lo, hi)))


def make_docs(n: int, rng: random.Random) -> list[CourseDoc]:
    docs = []
    for i in range(1, n + 1):
        cid = rng.randint(1, len(CATEGORIES))
        title = _phrase(rng, 1, 3, rng.choice(["", "与", "的", "：", "——"]))
        description = "。".join(
            "本课程" + _phrase(rng, 2, 4, "、") + rng.choice(["的理论与实践", "的主要内容", "的经验做法", "的政策要求"])
            for _ in range(rng.randint(2, 5))
        ) + "。"
        lessons = [f"第{j}讲 {_phrase(rng, 1, 2, '与')}" for j in range(1, rng.randint(3, 8) + 1)]
        docs.append(CourseDoc(
            id=i, title=title, lecturer=rng.choice(LECTURERS), description=description,
            category=CATEGORIES[cid - 1], category_id=cid, lessons=lessons,
            required=rng.random() < 0.2,
        ))
    return docs


def make_queries(n: int, rng: random.Random) -> list[tuple[str, int | None]]:
    queries = []
    for k in range(n):
        words = rng.sample(VOCABULARY, rng.randint(1, 3))
        category_id = rng.randint(1, len(CATEGORIES)) if k % 2 else None
        queries.append((" ".join(words), category_id))
    return queries


def _percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return 0.0
    k = (len(sorted_values) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def run(n_docs: int = 10_000, n_queries: int = 300) -> dict:
    rng = random.Random(SEED)
    docs = make_docs(n_docs, rng)
    queries = make_queries(n_queries, rng)
    with tempfile.TemporaryDirectory(prefix="search-bench-") as directory:
        engine = WhooshEngine(directory)
        engine.search("预热")  # open the index and load jieba's dictionary (not timed)

        started = time.perf_counter()
        count = engine.rebuild(docs)
        build_seconds = time.perf_counter() - started

        for q, cid in queries[:5]:  # warm-up, not timed
            engine.search(q, category_id=cid)

        timings_ms = []
        cpu_ms = []  # process CPU time: less sensitive to other load on a shared machine
        hits = 0
        for q, cid in queries:
            t0, c0 = time.perf_counter(), time.process_time()
            result = engine.search(q, category_id=cid, page=1, per_page=20)
            timings_ms.append((time.perf_counter() - t0) * 1000)
            cpu_ms.append((time.process_time() - c0) * 1000)
            hits += result.total
    timings_ms.sort()
    cpu_ms.sort()
    return {
        "docs": count,
        "queries": len(timings_ms),
        "build_seconds": round(build_seconds, 2),
        "p50_ms": round(_percentile(timings_ms, 0.50), 2),
        "p95_ms": round(_percentile(timings_ms, 0.95), 2),
        "max_ms": round(timings_ms[-1], 2) if timings_ms else 0.0,
        "mean_ms": round(statistics.fmean(timings_ms), 2) if timings_ms else 0.0,
        "cpu_p50_ms": round(_percentile(cpu_ms, 0.50), 2),
        "cpu_p95_ms": round(_percentile(cpu_ms, 0.95), 2),
        "mean_total_hits": round(hits / len(timings_ms), 1) if timings_ms else 0.0,
    }


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    figures = run(*args)
    label = f"{figures['docs'] // 1000}k" if figures["docs"] % 1000 == 0 else str(figures["docs"])
    print(f"search_p95_ms_{label}: {figures['p95_ms']}")
    for key, value in figures.items():
        print(f"{key}: {value}")
