"""Forms of the question bank and exam settings pages (Flask-WTF: CSRF on every one). They only
parse input; the rules (ranges, answers, duplicates) are the services' (app.exams.bank, services)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l, lazy_pgettext
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, IntegerField, RadioField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from app.exams.bank import LETTERS, MAX_OPTIONS
from app.exams.models import ExamSetting, Question, QuestionKind

OPTION_LETTERS = LETTERS[:MAX_OPTIONS]
KIND_CHOICES = [(QuestionKind.SINGLE.value, _l("单选题")), (QuestionKind.MULTIPLE.value, _l("多选题")),
                (QuestionKind.TRUEFALSE.value, _l("判断题"))]
# What a course without exam settings starts from (the model's column defaults).
SETTING_DEFAULTS = dict(question_count=10, single_count=None, multiple_count=None, truefalse_count=None,
                        time_limit_minutes=30, pass_mark=60, attempts_per_day=3, attempts_total=0,
                        show_answers_after_pass=True, multiple_partial=False, papers_allowed=True)
SETTING_INTS = ("question_count", "single_count", "multiple_count", "truefalse_count", "time_limit_minutes",
                "pass_mark", "attempts_per_day", "attempts_total")
SETTING_BOOLS = ("show_answers_after_pass", "multiple_partial", "papers_allowed")
INT_MESSAGE = _l("请填写整数")


class SettingsForm(FlaskForm):
    question_count = IntegerField(_l("每卷题数"), validators=[Optional()], render_kw={"min": 1, "max": 100})
    single_count = IntegerField(_l("单选题"), validators=[Optional()], render_kw={"min": 0, "max": 100})
    multiple_count = IntegerField(_l("多选题"), validators=[Optional()], render_kw={"min": 0, "max": 100})
    truefalse_count = IntegerField(_l("判断题"), validators=[Optional()], render_kw={"min": 0, "max": 100})
    time_limit_minutes = IntegerField(_l("考试时长(分钟)"), validators=[InputRequired(INT_MESSAGE)],
                                      render_kw={"min": 5, "max": 240})
    pass_mark = IntegerField(_l("合格分数"), validators=[InputRequired(INT_MESSAGE)], render_kw={"min": 1, "max": 100})
    attempts_per_day = IntegerField(_l("每天可考次数"), validators=[InputRequired(INT_MESSAGE)],
                                    render_kw={"min": 0, "max": 20})
    attempts_total = IntegerField(_l("总共可考次数"), validators=[InputRequired(INT_MESSAGE)],
                                  render_kw={"min": 0, "max": 100})
    show_answers_after_pass = BooleanField(_l("考试合格后向学员显示正确答案和解析"))
    multiple_partial = BooleanField(_l("多选题少选(所选都对)得一半分"))
    papers_allowed = BooleanField(_l("允许学员提交论文代替本课程考试"))

    @classmethod
    def for_setting(cls, setting: ExamSetting | None) -> SettingsForm:
        values = SETTING_DEFAULTS if setting is None else {k: getattr(setting, k) for k in SETTING_DEFAULTS}
        return cls(formdata=None, data=values)

    @property
    def per_type_fields(self):
        return [self.single_count, self.multiple_count, self.truefalse_count]

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if ok and self.question_count.data is None and all(f.data is None for f in self.per_type_fields):
            self.question_count.errors = [_l("请填写每卷题数,或按题型填写各题型的数量")]
            ok = False
        return ok

    def values(self) -> dict:
        """The settings for app.exams.services.update_setting (per-type counts None when left blank;
        the total is then theirs)."""
        out = {k: getattr(self, k).data for k in SETTING_INTS}
        if out["question_count"] is None:
            del out["question_count"]
        out.update({k: bool(getattr(self, k).data) for k in SETTING_BOOLS})
        return out


class CheckboxesField(SelectMultipleField):
    """Checkboxes rendered by hand, one beside each option's text box."""

    def pre_validate(self, form) -> None:
        pass  # unknown letters are the service's to refuse


class QuestionForm(FlaskForm):
    kind = SelectField(_l("题型"), choices=KIND_CHOICES, default=QuestionKind.SINGLE.value)
    stem = TextAreaField(_l("题干"), validators=[InputRequired(_l("请填写题干")), Length(max=1000)])
    option_a = StringField("A", validators=[Optional(), Length(max=300)])
    option_b = StringField("B", validators=[Optional(), Length(max=300)])
    option_c = StringField("C", validators=[Optional(), Length(max=300)])
    option_d = StringField("D", validators=[Optional(), Length(max=300)])
    option_e = StringField("E", validators=[Optional(), Length(max=300)])
    option_f = StringField("F", validators=[Optional(), Length(max=300)])
    correct = CheckboxesField(_l("正确答案"), choices=[(ch, ch) for ch in OPTION_LETTERS])
    truefalse = RadioField(_l("判断题答案"), choices=[("T", lazy_pgettext("truefalse", "正确")), ("F", lazy_pgettext("truefalse", "错误"))], validate_choice=False)
    explanation = TextAreaField(_l("解析"), validators=[Optional(), Length(max=2000)])

    # Service errors about the options or the answer, shown beside the options block.
    options_errors: list[str]
    answer_errors: list[str]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.options_errors, self.answer_errors = [], []

    def option_fields(self):
        return [(ch, getattr(self, f"option_{ch.lower()}")) for ch in OPTION_LETTERS]

    @classmethod
    def for_question(cls, q: Question) -> QuestionForm:
        data = {"kind": q.kind.value, "stem": q.stem, "explanation": q.explanation,
                "correct": [] if q.kind == QuestionKind.TRUEFALSE else list(q.answer),
                "truefalse": q.answer if q.kind == QuestionKind.TRUEFALSE else None}
        for i, ch in enumerate(OPTION_LETTERS):
            data[f"option_{ch.lower()}"] = q.options[i] if i < len(q.options) else ""
        return cls(formdata=None, data=data)

    @property
    def is_truefalse(self) -> bool:
        return self.kind.data == QuestionKind.TRUEFALSE.value

    def values(self) -> dict:
        """The question for app.exams.bank (true/false: its options are not shown, so not sent)."""
        if self.is_truefalse:
            options, answer = [], self.truefalse.data or ""
        else:
            options, answer = [f.data or "" for _ch, f in self.option_fields()], "".join(self.correct.data or [])
        return {"kind": self.kind.data, "stem": self.stem.data or "", "options": options, "answer": answer,
                "explanation": self.explanation.data or ""}

    def apply_service_errors(self, err) -> bool:
        """Put a service error's per-field messages on the form; False when it names no field here."""
        errors = err.extra.get("errors")
        if not isinstance(errors, dict):
            errors = {err.field: [err.message]} if err.field else {}
        placed = False
        for name, messages in errors.items():
            messages = [messages] if isinstance(messages, str) else list(messages)
            if name == "options":
                self.options_errors += messages
            elif name == "answer":
                self.answer_errors += messages
            elif name in ("kind", "stem", "explanation"):
                getattr(self, name).errors = list(getattr(self, name).errors) + messages
            else:
                continue
            placed = True
        return placed


class ImportForm(FlaskForm):
    file = FileField(_l("题目文件(.xlsx)"), validators=[FileRequired(_l("请选择要导入的 .xlsx 文件"))])


class ActionForm(FlaskForm):
    """Retire / restore buttons: the CSRF token only."""
