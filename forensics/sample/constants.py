"""Constants of the sample world: span, window, nodes, the case's facts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

VARIANTS: Final[tuple[str, ...]] = ("clean", "guilty", "gap")
DEFAULT_EVENTS: Final[int] = 30_000  # the committed sample_logs/xue-case size (a few MB)
DEFAULT_SEED: Final[int] = 7
MAX_EVENTS: Final[int] = 50_000_000
# Up to this many events logs are gzip'd (level 6, the logrotate classic); above it zstd level 1 (.zst), which is
# several times faster to write at platform scale. Ingest reads both transparently.
ZSTD_ABOVE: Final[int] = 1_000_000
WRITERS: Final[int] = 4  # file writer threads

ZONE: Final[ZoneInfo] = ZoneInfo("Asia/Shanghai")
# Three days either side of the window: baselines for volumes, silences, habits and per-principal rates.
SPAN_START: Final[datetime] = datetime(2024, 3, 1, tzinfo=ZONE)
SPAN_DAYS: Final[int] = 9
SPAN_END: Final[datetime] = SPAN_START + timedelta(days=SPAN_DAYS)
WINDOW_START: Final[datetime] = datetime(2024, 3, 4, tzinfo=ZONE)
WINDOW_END: Final[datetime] = datetime(2024, 3, 7, tzinfo=ZONE)
ORDERS_FROM: Final[datetime] = datetime(2024, 2, 10, tzinfo=ZONE)

MB_NODES: Final[tuple[str, ...]] = ("mb-01", "mb-02", "mb-03", "mb-04")
API_NODES: Final[tuple[str, ...]] = ("api-01", "api-02")
LG_NODES: Final[tuple[str, ...]] = ("lg-01", "lg-02")
NODE_SYSTEM: Final[dict[str, str]] = (
    {n: "merchant_backend" for n in MB_NODES} | {n: "open_api" for n in API_NODES} | {n: "logistics" for n in LG_NODES}
)
ALERT_HOST: Final[str] = "dsc-01"
OPEN_API_SKEW_S: Final[int] = 2  # the open-API gateway's clock runs this far ahead of the back office
GAP_NODE: Final[str] = "mb-02"
GAP_START: Final[datetime] = datetime(2024, 3, 5, 13, 0, tzinfo=ZONE)
GAP_END: Final[datetime] = datetime(2024, 3, 5, 16, 0, tzinfo=ZONE)

NGINX_LOG_FORMAT: Final[str] = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
    '"$http_user_agent" $request_time $app_key $request_id $hostname'
)
CSV_HEADER: Final[str] = "打印时间,面单号,订单号,店铺,打印终端,快递公司,收件人(脱敏),收件电话(脱敏),打印次数"

US: Final[int] = 1_000_000
DAY_US: Final[int] = 86_400 * US
HOUR_US: Final[int] = 3_600 * US
# Relative activity per local hour: quiet nights, a morning and an evening peak (order handling, buyers online).
HOUR_WEIGHTS: Final = (2, 1, 1, 1, 1, 2, 4, 8, 14, 20, 24, 24, 18, 20, 24, 24, 22, 18, 16, 18, 22, 20, 12, 6)


def _us(moment: datetime) -> int:
    return int(moment.timestamp()) * US + moment.microsecond


@dataclass(frozen=True)
class CaseFacts:
    """The seed case as it appears in this world (all of it synthetic)."""

    order_id: str = "3921046718520307744"
    item: str = "怪味豆 x3"
    amount: str = "29.70"
    shop_id: str = "S6600001"
    shop_main: str = "测试零食铺"
    shop_subs: tuple[str, ...] = ("测试零食铺:客服01", "测试零食铺:客服02", "测试零食铺:打包01")
    insider: str = "测试零食铺:客服02"  # the sub-account that leaks in the guilty variant
    insider_ip: str = "203.0.113.77"
    insider_ua: str = "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Firefox/115.0"
    plaintiff_name: str = "测试用户甲"
    plaintiff_phone: str = "13800130001"
    plaintiff_masked_name: str = "测****"
    plaintiff_masked_phone: str = "138****0001"
    buyer_nickname: str = "test_buyer_jia"
    waybill_no: str = "73501234567890"
    carrier: str = "中通快递"
    print_terminal: str = "CAINIAO-PRINT-PC-7F3A"
    print_app: str = "23999001"
    created_at: datetime = datetime(2024, 3, 4, 20, 13, 7, tzinfo=ZONE)
    paid_at: datetime = datetime(2024, 3, 4, 20, 13, 41, tzinfo=ZONE)
    printed_at: datetime = datetime(2024, 3, 5, 9, 41, 25, tzinfo=ZONE)
    shipped_at: datetime = datetime(2024, 3, 5, 9, 43, 10, tzinfo=ZONE)
    delivered_at: datetime = datetime(2024, 3, 6, 10, 20, tzinfo=ZONE)
    calls: tuple[datetime, ...] = (
        datetime(2024, 3, 6, 15, 2, 11, tzinfo=ZONE),
        datetime(2024, 3, 6, 15, 40, 37, tzinfo=ZONE),
        datetime(2024, 3, 6, 19, 11, 5, tzinfo=ZONE),
    )


FACTS: Final[CaseFacts] = CaseFacts()


@dataclass
class SampleResult:
    out_dir: Path
    plan_path: Path
    case_toml_path: Path
    ground_truth_path: Path
    files: list[Path]  # every file written, relative paths resolved against out_dir
    events_written: int  # lines expected to become events across all sources
