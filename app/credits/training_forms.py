"""The form of the offline-training page (Flask-WTF: CSRF on it). The rules are checked by the
service; the form only parses, so that the page shows the service's messages beside the fields."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField
from wtforms import DateField, IntegerField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

EVIDENCE_EXTENSIONS = ["pdf", "jpg", "jpeg", "png"]


class TrainingForm(FlaskForm):
    name = StringField(_l("培训班名称"), validators=[InputRequired(_l("请填写培训班名称")), Length(max=200)])
    organiser = StringField(_l("主办单位"), validators=[InputRequired(_l("请填写主办单位")), Length(max=200)])
    start_date = DateField(_l("开始日期"), validators=[InputRequired(_l("请填写开始日期"))])
    end_date = DateField(_l("结束日期"), validators=[InputRequired(_l("请填写结束日期"))])
    days = IntegerField(_l("培训天数"), validators=[InputRequired(_l("请填写培训天数(整数)")), NumberRange(1, 366)])
    cadres = TextAreaField(_l("参训学员"), validators=[InputRequired(_l("请至少填写一名学员(每行一名)"))])
    note = TextAreaField(_l("备注"), validators=[Optional(), Length(max=2000)])
    evidence = FileField(_l("证明材料(结业证书、培训通知或签到表:PDF、JPG 或 PNG)"),
                         validators=[FileAllowed(EVIDENCE_EXTENSIONS, _l("证明材料只能是 PDF、JPG 或 PNG 文件"))])
