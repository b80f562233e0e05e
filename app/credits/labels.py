"""Display labels of the credits domain, shared by the pages and the API (lazy: translated when shown)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

CATEGORY_LABELS = {"basic": _l("基本学分"), "additional": _l("附加学分"), "reward": _l("奖励学分"),
                   "adjustment": _l("学分调整")}
KIND_LABELS = {"online_course": _l("在线学习"), "offline": _l("脱产培训"), "degree": _l("学历学位进修"),
               "book": _l("著作"), "article": _l("文章"), "award": _l("表彰奖励"), "adjustment": _l("学分调整")}
SOURCE_LABELS = {"course_hours": _l("课程学习完成"), "course_credits": _l("课程考核合格"),
                 "offline_training": _l("脱产培训登记"), "application": _l("学分申请"), "adjustment": _l("管理员调整")}
STATUS_LABELS = {True: _l("合格"), False: _l("不合格")}
CYCLE_STATUS_LABELS = {"qualified": _l("合格"), "unqualified": _l("不合格"), "in_progress": _l("进行中")}
RANK_LABELS = {"county": _l("县处级及以上"), "township": _l("乡科级"), "other": _l("其他")}
APPLICATION_STATE_LABELS = {"submitted": _l("待单位审核"), "reviewed": _l("待组织部审批"), "approved": _l("已批准"),
                            "rejected": _l("未通过"), "withdrawn": _l("已撤回")}
