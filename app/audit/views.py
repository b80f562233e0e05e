"""The audit log page for administrators."""
from __future__ import annotations

from datetime import datetime, time, timezone

from flask import Blueprint, render_template, request
from flask_login import current_user, login_required

from app.accounts.scope import ADMIN_ROLES, require_role
from app.audit.services import list_events
from app.web import int_arg

bp = Blueprint("audit", __name__, url_prefix="/admin/audit")

ACTIONS = {
    "card": "学习卡", "card.issue": "发卡", "card.lost": "挂失", "card.reissue": "补卡", "card.cancel": "注销卡",
    "cadre": "学员", "cadre.register": "登记", "cadre.supplement": "补录", "cadre.update": "修改资料",
    "cadre.transfer": "调动", "roster.import": "名册导入", "account.reset_password": "重置密码",
    "account.change_password": "修改密码", "auth.lockout": "登录锁定", "unit.create": "新建单位",
    "staff.create": "新建管理账户",
    "category": "课程分类", "category.create": "新建分类", "category.update": "修改分类", "category.retire": "停用分类",
    "category.restore": "恢复分类", "course": "课程", "course.create": "新建课程", "course.update": "修改课程",
    "course.publish": "发布课程", "course.draft": "撤回课程", "course.retired": "下架课程",
    "lesson.create": "新增课时", "lesson.update": "修改课时", "video": "课时视频", "video.upload": "上传视频",
    "video.publish": "视频转码完成", "video.failed": "视频处理失败", "catalogue.import": "导入课程包",
    "credits": "学分", "credits.rules": "修改学分规则", "credits.adjust": "调整学分", "credits.reverse": "撤销学分",
    "credits.close_year": "年度结转", "credits.offline": "登记脱产培训", "credits.application_review": "审核学分申请",
    "credits.application_decide": "审批学分申请",
    "exams": "考试", "exams.settings": "修改考试设置", "exams.question_create": "新增题目",
    "exams.question_update": "修改题目", "exams.question_retire": "停用题目", "exams.question_restore": "恢复题目",
    "exams.question_import": "导入题目", "papers": "论文", "papers.submit": "提交论文", "papers.withdraw": "撤回论文",
    "papers.review": "评审论文", "papers.policy": "修改论文设置", "papers.reviewer_appoint": "指定论文评审人",
    "papers.reviewer_remove": "取消论文评审人", "archive": "学习档案", "archive.certificate": "生成学习档案验证码", "reports.export": "导出报表",
}


def _date(name: str):
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        return datetime.combine(datetime.strptime(raw, "%Y-%m-%d").date(), time.min, tzinfo=timezone.utc)
    except ValueError:
        return None


@bp.get("/")
@login_required
def index():
    require_role(current_user, *ADMIN_ROLES)
    action = request.args.get("action") or None
    since, until = _date("since"), _date("until")
    if until:
        from datetime import timedelta

        until = until + timedelta(days=1)
    page = list_events(current_user.unit.path, action=action, since=since, until=until,
                       page=int_arg("page", 1), per_page=50)
    return render_template("audit/index.html", page=page, actions=ACTIONS, action=action,
                           since=request.args.get("since", ""), until=request.args.get("until", ""))
