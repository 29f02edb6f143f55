from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from core.errors import DomainError
from reports import detail_csv, xlsx
from reports.management.commands.export_roster import command_actor
from reports.services import export_scope


class Command(BaseCommand):
    help = (
        "导出年度统计汇总工作簿（汇总、分行业、分地区、分批次、学时达标、明细）；"
        "加 --detail-csv 则只导出报名明细（CSV）。范围很大时建议：--no-detail 的工作簿加 --detail-csv 的明细。"
    )

    def add_arguments(self, parser):
        parser.add_argument("--year", type=int, required=True, help="统计年度，如 2019")
        parser.add_argument("--region", default=None, help="地区代码（默认全省）")
        detail = parser.add_mutually_exclusive_group()
        detail.add_argument("--no-detail", action="store_true", help="不含报名明细（范围很大时使用）")
        detail.add_argument(
            "--detail-csv",
            action="store_true",
            dest="as_csv",
            help="只导出报名明细，写为 CSV（UTF-8 带 BOM，无行数上限，比工作簿的明细快得多）",
        )
        parser.add_argument("-o", "--output", required=True, help="输出文件路径（.xlsx；--detail-csv 时为 .csv）")
        parser.add_argument("--as-user", default=None, help="以该账号的权限导出（默认不受地区限制）")

    def handle(self, *args, year, region, no_detail, as_csv, output, as_user, **options):
        actor = command_actor(as_user)
        try:
            scope = export_scope(actor=actor, year=year, region_code=region)
        except DomainError as exc:
            raise CommandError(exc.detail) from None
        path = Path(output)
        path.parent.mkdir(parents=True, exist_ok=True)
        with tqdm(total=100, unit="%", desc="导出", file=self.stderr._out, disable=options["verbosity"] == 0) as bar:

            def progress(fraction, stage):
                bar.set_description(stage)
                bar.update(max(int(fraction * 100) - bar.n, 0))

            if as_csv:
                counts = {"enrollments": detail_csv.write_file(str(path), scope=scope, progress=progress)}
            else:
                counts = xlsx.yearly_workbook(
                    str(path), scope=scope, actor=actor, include_detail=not no_detail, progress=progress
                )
        summary = "，".join(f"{k} {v}" for k, v in counts.items())
        self.stdout.write(self.style.SUCCESS(f"已导出 {path}（{scope.region.name} {scope.year} 年；{summary}）"))
