"""Forms of the paper (论文) pages (Flask-WTF: CSRF on every one)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l, lazy_pgettext
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, HiddenField, IntegerField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

FREE_TOPIC = "free"  # the course select's value for 自选题目


class PaperForm(FlaskForm):
    course_id = SelectField(_l("课程"), validators=[DataRequired(_l("请选择课程"))], validate_choice=True)
    title = StringField(_l("论文题目"), validators=[DataRequired(_l("请填写论文题目")), Length(max=200)])
    body = TextAreaField(_l("正文"), validators=[Optional(), Length(max=50_000)])
    file = FileField(_l("论文文件"))

    def set_courses(self, courses, *, free_topic: bool, earned: set[int], live: set[int] = frozenset()) -> None:
        """The courses that accept papers (one already credited, or with a paper under way, says
        so), and 自选题目 if allowed."""
        choices = [("", _l("请选择课程"))]
        for c in courses:
            label = f"{c.title} · {c.credits} " + str(_l("学分"))
            if c.id in live:
                label += str(_l("(已有论文在评审中)"))
            elif c.id in earned:
                label += str(_l("(学分已获得)"))
            choices.append((str(c.id), label))
        if free_topic:
            choices.append((FREE_TOPIC, _l("自选题目(不属于任何课程)")))
        self.course_id.choices = choices

    def chosen_course(self) -> int | None:
        value = self.course_id.data
        return None if value in (None, "", FREE_TOPIC) else int(value)


class ReviseForm(FlaskForm):
    title = StringField(_l("论文题目"), validators=[DataRequired(_l("请填写论文题目")), Length(max=200)])
    body = TextAreaField(_l("正文"), validators=[Optional(), Length(max=50_000)])
    file = FileField(_l("修改后的论文文件"))


class ReviewForm(FlaskForm):
    version = HiddenField()
    score = IntegerField(_l("评分(0–100)"), validators=[Optional(), NumberRange(0, 100, _l("评分须为 0–100"))])
    credits = IntegerField(_l("学分"), validators=[Optional()])
    comment = TextAreaField(_l("评审意见"), validators=[Optional(), Length(max=4000)])
    approve = SubmitField(_l("通过评审"))
    send_back = SubmitField(lazy_pgettext("button", "退回修改"))


class WithdrawForm(FlaskForm):
    """Only the CSRF token: the withdraw button."""


class PolicyForm(FlaskForm):
    free_topic = BooleanField(_l("接受自选题目的论文(不属于任何课程)"))
    free_topic_credits = IntegerField(_l("自选题目论文的默认学分"),
                                      validators=[InputRequired(_l("请填写学分")), NumberRange(1, 20)])


class AppointForm(FlaskForm):
    username = StringField(_l("用户名"), validators=[DataRequired(_l("请填写用户名")), Length(max=64)])


class RemoveReviewerForm(FlaskForm):
    """Only the CSRF token: the remove button beside a reviewer."""
