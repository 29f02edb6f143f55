from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from personnel.imports import roster_import


class Command(BaseCommand):
    help = "导入执法人员名册（.xlsx/.xls/.csv）。先校验全部行；有任何错误则不写入，并逐行列出问题。"

    def add_arguments(self, parser):
        parser.add_argument("file", help="名册文件路径")
        parser.add_argument("--dry-run", action="store_true", help="只校验，不写入")
        parser.add_argument(
            "--as-user",
            default=None,
            help="以该账号的权限导入（默认：不受地区限制的命令行导入）",
        )

    def handle(self, *args, file, dry_run, as_user, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"文件不存在：{path}")
        actor = self._actor(as_user)
        result = roster_import(actor=actor, data=path.read_bytes(), filename=path.name, dry_run=dry_run)
        if not result.ok:
            for error in result.errors:
                self.stderr.write(str(error))
            raise CommandError(f"发现 {len(result.errors)} 处错误，未写入任何数据。")
        prefix = "校验通过（试运行，未写入）：" if dry_run else "导入完成："
        self.stdout.write(
            self.style.SUCCESS(
                f"{prefix}共 {result.total} 行，新增 {result.created}，更新 {result.updated}，未变 {result.unchanged}。"
            )
        )

    def _actor(self, username):
        User = get_user_model()
        if username:
            try:
                return User.objects.get(username=username)
            except User.DoesNotExist:
                raise CommandError(f"账号不存在：{username}") from None
        # Whoever runs manage.py on the server already has the whole database; act as a
        # provincial administrator without needing an account in it.
        return User(username="manage.py", is_superuser=True, is_active=True)
