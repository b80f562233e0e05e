"""Forms of the ledger and rules pages (adjustment, reversal, rules of a year, year closing)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from app.credits.rules import FIELDS


class AdjustForm(FlaskForm):
    credits = IntegerField(_l("学分(可为负数)"), validators=[InputRequired(_l("请填写学分")), NumberRange(-100, 100)],
                           default=0)
    hours = IntegerField(_l("学时(可为负数)"), validators=[Optional(), NumberRange(-1000, 1000)], default=0)
    year = IntegerField(_l("计入年度"), validators=[Optional(), NumberRange(2000, 2100)])
    reason = TextAreaField(_l("原因"), validators=[DataRequired(_l("请填写原因")), Length(2, 500)])


class ReverseForm(FlaskForm):
    reason = StringField(_l("撤销原因"), validators=[DataRequired(_l("请填写原因")), Length(2, 500)])


class CloseYearForm(FlaskForm):
    year = IntegerField(_l("结转年度"), validators=[InputRequired(), NumberRange(2000, 2100)])


def rules_form(values: dict, formdata=None):
    """A form with one whole-number field per rule, prefilled with `values`."""
    attrs = {f.key: IntegerField(f.label, validators=[InputRequired(_l("请填写整数")), NumberRange(f.minimum, f.maximum)])
             for f in FIELDS}
    attrs["effective_year"] = IntegerField(_l("自哪一年起生效"), validators=[InputRequired(), NumberRange(2000, 2100)])
    attrs["reason"] = StringField(_l("修改说明"), validators=[Optional(), Length(max=500)])
    cls = type("RulesForm", (FlaskForm,), attrs)
    return cls(formdata=formdata, data=values) if formdata is None else cls(formdata=formdata)
