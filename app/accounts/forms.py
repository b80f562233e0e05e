"""Forms of the account pages (Flask-WTF: CSRF on every one)."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, DateField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

RANK_CHOICES = [("county", _l("县处级及以上")), ("township", _l("乡科级")), ("other", _l("其他"))]


class LoginForm(FlaskForm):
    login = StringField(_l("学习卡号或用户名"), validators=[DataRequired(_l("请输入学习卡号或用户名"))])
    password = PasswordField(_l("密码"), validators=[DataRequired(_l("请输入密码"))])


class ChangePasswordForm(FlaskForm):
    old_password = PasswordField(_l("当前密码"), validators=[DataRequired(_l("请输入当前密码"))])
    new_password = PasswordField(_l("新密码"), validators=[DataRequired(_l("请输入新密码"))])
    confirm = PasswordField(_l("再次输入新密码"), validators=[DataRequired(_l("请再次输入新密码"))])


class CadreForm(FlaskForm):
    name = StringField(_l("姓名"), validators=[DataRequired(_l("请输入姓名")), Length(max=50)])
    id_number = StringField(_l("身份证号"), validators=[DataRequired(_l("请输入身份证号"))])
    unit_id = SelectField(_l("所在单位"), coerce=int)
    rank = SelectField(_l("职级"), choices=RANK_CHOICES, default="other")
    position = StringField(_l("职务"), validators=[Optional(), Length(max=100)])
    phone = StringField(_l("手机"), validators=[Optional(), Length(max=20)])
    username = StringField(_l("用户名(可选)"), validators=[Optional(), Length(max=32)])
    supplementary = BooleanField(_l("补录(登记造册之后补充登记)"))
    supplementary_reason = TextAreaField(_l("补录原因"), validators=[Optional(), Length(max=500)])
    supplementary_date = DateField(_l("补录日期"), validators=[Optional()])


class CadreEditForm(FlaskForm):
    name = StringField(_l("姓名"), validators=[DataRequired(_l("请输入姓名")), Length(max=50)])
    id_number = StringField(_l("身份证号(如需更正)"), validators=[Optional()])
    rank = SelectField(_l("职级"), choices=RANK_CHOICES)
    position = StringField(_l("职务"), validators=[Optional(), Length(max=100)])
    phone = StringField(_l("手机"), validators=[Optional(), Length(max=20)])
    username = StringField(_l("用户名(可选)"), validators=[Optional(), Length(max=32)])


class TransferForm(FlaskForm):
    unit_id = SelectField(_l("调入单位"), coerce=int)
    reason = TextAreaField(_l("调动原因"), validators=[Optional(), Length(max=500)])


class CancelCardForm(FlaskForm):
    reason = StringField(_l("注销原因"), validators=[DataRequired(_l("请填写注销原因")), Length(max=200)])


class ConfirmForm(FlaskForm):
    """A form with only the CSRF token, for action buttons."""


class UnitForm(FlaskForm):
    name = StringField(_l("单位名称"), validators=[DataRequired(_l("请输入单位名称")), Length(max=100)])
    parent_id = SelectField(_l("上级单位"), coerce=int)
    code = StringField(_l("单位编码(可选)"), validators=[Optional(), Length(max=32)])


class RosterForm(FlaskForm):
    unit_id = SelectField(_l("导入到单位"), coerce=int)
    file = FileField(_l("名册文件(.xlsx 或 .csv)"), validators=[FileRequired(_l("请选择文件"))])


class BatchIssueForm(FlaskForm):
    unit_id = SelectField(_l("单位"), coerce=int)
