"""Forms of the catalogue administration pages (Flask-WTF: CSRF on every one)."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, IntegerField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from app.accounts.forms import RANK_CHOICES


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class CategoryForm(FlaskForm):
    name = StringField(_l("分类名称"), validators=[DataRequired(_l("请输入分类名称")), Length(max=50)])
    code = StringField(_l("分类代码"), validators=[DataRequired(_l("请输入分类代码")), Length(max=64)])
    kind = SelectField(_l("类型"), choices=[("subject", _l("专题分类")), ("local", _l("地方特色模块"))])


class RenameForm(FlaskForm):
    name = StringField(_l("新名称"), validators=[DataRequired(_l("请输入名称")), Length(max=50)])


class CourseForm(FlaskForm):
    title = StringField(_l("课程名称"), validators=[DataRequired(_l("请输入课程名称")), Length(max=100)])
    category_id = SelectField(_l("分类"), coerce=int)
    lecturer = StringField(_l("主讲人"), validators=[DataRequired(_l("请输入主讲人")), Length(max=50)])
    lecturer_title = StringField(_l("主讲人职务/职称"), validators=[Optional(), Length(max=100)])
    description = TextAreaField(_l("课程简介"), validators=[Optional(), Length(max=4000)])
    class_hours = IntegerField(_l("学时"), validators=[InputRequired(_l("请输入学时")),
                                                      NumberRange(1, 100, _l("学时须为 1–100"))])
    credits = IntegerField(_l("学分"), validators=[InputRequired(_l("请输入学分")),
                                                  NumberRange(5, 20, _l("学分须为 5–20"))])
    required = BooleanField(_l("必修课程"))
    target_ranks = CheckboxesField(_l("适用职级"), choices=RANK_CHOICES,
                                   validators=[DataRequired(_l("请至少选择一个适用职级"))])


class LessonForm(FlaskForm):
    title = StringField(_l("课时标题"), validators=[DataRequired(_l("请输入课时标题")), Length(max=100)])
    summary = TextAreaField(_l("课时简介"), validators=[Optional(), Length(max=1000)])


class VideoForm(FlaskForm):
    file = FileField(_l("视频文件"), validators=[FileRequired(_l("请选择视频文件"))])
