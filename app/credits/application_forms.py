"""Forms of the credit application pages (Flask-WTF: CSRF on every one)."""
from __future__ import annotations

from flask_babel import gettext as _, lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import DateField, IntegerField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError

from app.credits.labels import KIND_LABELS
from app.credits.models import ApplicationKind
from app.credits.rules import LEVEL_LABELS, LEVELS, Rules

SEPARATOR = ":"


def level_value(kind: ApplicationKind | str, level: str) -> str:
    """The level select's option value: kind and level, since 'sole' and 'co' exist for two kinds."""
    return f"{ApplicationKind(kind).value}{SEPARATOR}{level}"


def split_level(value: str | None) -> tuple[str, str]:
    kind, _sep, level = (value or "").partition(SEPARATOR)
    return kind, level


class ApplicationForm(FlaskForm):
    kind = SelectField(_l("申请类别"), choices=[(k.value, KIND_LABELS[k.value]) for k in ApplicationKind],
                       validators=[DataRequired(_l("请选择申请类别"))])
    level = SelectField(_l("级别"), validators=[DataRequired(_l("请选择级别"))], validate_choice=True)
    title = StringField(_l("名称"), validators=[DataRequired(_l("请填写名称")), Length(2, 200)])
    event_date = DateField(_l("日期"), validators=[Optional()])
    study_year = IntegerField(_l("学习年度"), validators=[Optional(), NumberRange(2000, 2100)])
    admission_date = DateField(_l("入学日期"), validators=[Optional()])
    details = TextAreaField(_l("说明"), validators=[Optional(), Length(max=2000)])
    evidence = FileField(_l("证明材料(PDF、JPG 或 PNG)"), validators=[FileRequired(_l("请上传证明材料"))])

    def set_levels(self, rules: Rules) -> None:
        """All levels, grouped by kind (optgroups), each with what it earns under `rules`."""
        self.level.choices = {
            str(KIND_LABELS[kind.value]): [
                (level_value(kind, lv), _("%(level)s(%(n)d 学分)", level=LEVEL_LABELS[lv],
                                          n=rules.application_amount(kind, lv)))
                for lv in LEVELS[kind]]
            for kind in ApplicationKind}

    def validate_level(self, field) -> None:
        kind, _level = split_level(field.data)
        if kind != self.kind.data:
            raise ValidationError(_("所选级别与申请类别不符"))


class ReviewForm(FlaskForm):
    comment = TextAreaField(_l("审核意见"), validators=[Optional(), Length(max=2000)])
    forward = SubmitField(_l("审核通过,报组织部审批"))
    reject = SubmitField(_l("退回"))


class DecideForm(FlaskForm):
    reason = TextAreaField(_l("审批意见"), validators=[Optional(), Length(max=2000)])
    approve = SubmitField(_l("批准并记入学分"))
    reject = SubmitField(_l("不予批准"))


class WithdrawForm(FlaskForm):
    """Only the CSRF token: the withdraw button."""
