from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from core.errors import DomainError
from reports import xlsx
from reports.services import export_scope


def command_actor(username: str | None):
    """Who a management command acts as: a named account, or (by default) the whole province,
    since whoever runs manage.py on the server already has the whole database."""
    User = get_user_model()
    if username:
        try:
            return User.objects.get(username=username)
        except User.DoesNotExist:
            raise CommandError(f"账号不存在：{username}") from None
    return User(username="manage.py", is_superuser=True, is_active=True)


class Command(BaseCommand):
    help = "导出执法人员名册（含行业、地区、证件状态、本年学时）。"

    def add_arguments(self, parser):
        parser.add_argument("--year", type=int, default=None, help="学时统计年度（默认今年）")
        parser.add_argument("--region", default=None, help="地区代码（默认全省）")
        parser.add_argument("-o", "--output", required=True, help="输出文件路径（.xlsx）")
        parser.add_argument("--as-user", default=None)

    def handle(self, *args, year, region, output, as_user, **options):
        actor = command_actor(as_user)
        try:
            scope = export_scope(actor=actor, year=year or timezone.localdate().year, region_code=region)
        except DomainError as exc:
            raise CommandError(exc.detail) from None
        path = Path(output)
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = xlsx.roster_workbook(str(path), scope=scope)
        self.stdout.write(self.style.SUCCESS(f"已导出 {path}（{rows} 人）"))
