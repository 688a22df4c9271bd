"""Printable asset labels: A4 sheets of a common label stock, or one label on a page of its own.

Each label carries the asset tag (large, the thing a person reads aloud), the model, the site and
the serial number, and a QR code of the asset's address in Circulus, so a phone or a scanner on
the floor opens the asset's page. The PDF is drawn with ReportLab, QR code included (its own
encoder, error-correction level M: readable with up to about 15 % of the code scuffed).
"""

import io
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpResponse
from django.urls import reverse
from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas


@dataclass(frozen=True)
class Layout:
    """A label stock: its grid on an A4 sheet, in millimetres, as the maker publishes it."""

    code: str
    label: str
    columns: int
    rows: int
    width_mm: float
    height_mm: float
    left_mm: float  # sheet edge to the first label
    top_mm: float
    pitch_x_mm: float  # one label's left edge to the next one's
    pitch_y_mm: float

    @property
    def per_sheet(self) -> int:
        return self.columns * self.rows


# Avery/Zweckform A4 stocks (the maker's templates give these dimensions); any stock with the
# same grid, whoever makes it, prints the same.
LAYOUTS = {
    layout.code: layout
    for layout in (
        Layout("L7160", "21 per sheet, 63.5 × 38.1 mm (Avery L7160)", 3, 7, 63.5, 38.1,
               7.25, 15.15, 66.04, 38.1),
        Layout("L7163", "14 per sheet, 99.1 × 38.1 mm (Avery L7163)", 2, 7, 99.1, 38.1,
               4.65, 15.15, 101.6, 38.1),
        Layout("L7165", "8 per sheet, 99.1 × 67.7 mm (Avery L7165)", 2, 4, 99.1, 67.7,
               4.65, 13.1, 101.6, 67.7),
    )
}  # fmt: skip
DEFAULT_LAYOUT = "L7160"


@dataclass(frozen=True)
class LabelText:
    """What one label says; `url` is what its QR code holds."""

    tag: str
    model: str
    site: str
    serial: str
    url: str


def label_text(asset, url: str) -> LabelText:
    return LabelText(
        tag=asset.asset_tag,
        model=model_name(asset.hardware_model),
        site=asset.site.code if asset.site_id else "",
        serial=asset.serial_number or "",
        url=url,
    )


def model_name(model) -> str:
    """The maker and the model, once each ("NVIDIA L40S", not "NVIDIA NVIDIA L40S")."""
    if model is None:
        return ""
    maker = model.manufacturer.name
    return model.name if model.name.lower().startswith(maker.lower()) else f"{maker} {model.name}"


def sheet_pdf(labels: Iterable[LabelText], layout: str = DEFAULT_LAYOUT, *, skip: int = 0) -> bytes:
    """A4 pages of `layout`, filled left to right, top to bottom; `skip` leaves that many labels
    of the first sheet blank (a sheet already partly used)."""
    stock = LAYOUTS[layout]
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, pageCompression=1)
    canvas.setTitle("Asset labels")
    _, page_height = A4
    slot = skip % stock.per_sheet
    drew = False
    for text in labels:
        if drew and slot == 0:
            canvas.showPage()
        column, row = slot % stock.columns, slot // stock.columns
        x = (stock.left_mm + column * stock.pitch_x_mm) * mm
        y = page_height - (stock.top_mm + row * stock.pitch_y_mm + stock.height_mm) * mm
        _draw_label(canvas, text, x, y, stock.width_mm * mm, stock.height_mm * mm)
        drew = True
        slot = (slot + 1) % stock.per_sheet
    if not drew:
        canvas.setFont("Helvetica", 10)
        canvas.drawString(20 * mm, page_height - 20 * mm, "No assets were selected.")
    canvas.save()
    return buffer.getvalue()


def single_pdf(text: LabelText, layout: str = DEFAULT_LAYOUT) -> bytes:
    """One label on a page the size of one label of `layout` (for a label printer)."""
    stock = LAYOUTS[layout]
    size = (stock.width_mm * mm, stock.height_mm * mm)
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=size, pageCompression=1)
    canvas.setTitle(f"Label {text.tag}")
    _draw_label(canvas, text, 0, 0, *size)
    canvas.save()
    return buffer.getvalue()


PADDING = 2.5 * mm
MIN_FONT_PT = 6  # smaller than this is unreadable at arm's length: shorten the text instead


def _draw_label(canvas: Canvas, text: LabelText, x: float, y: float, w: float, h: float) -> None:
    side = h - 2 * PADDING
    _draw_qr(canvas, text.url, x + PADDING, y + PADDING, side)
    left = x + 2 * PADDING + side
    width = x + w - PADDING - left
    top = y + h - PADDING
    tag_pt = _fitting_size(text.tag, "Helvetica-Bold", width, largest=min(16, h / mm * 0.45))
    lines = [(_shortened(text.tag, "Helvetica-Bold", tag_pt, width), "Helvetica-Bold", tag_pt)]
    small = max(MIN_FONT_PT, min(9, tag_pt * 0.6))
    for line in (
        text.model,
        text.site and f"Site {text.site}",
        text.serial and f"S/N {text.serial}",
    ):
        if line:
            lines.append((_shortened(line, "Helvetica", small, width), "Helvetica", small))
    cursor = top
    for words, font, size in lines:
        cursor -= size * 1.15
        if cursor < y + PADDING:
            break
        canvas.setFont(font, size)
        canvas.drawString(left, cursor, words)


def _draw_qr(canvas: Canvas, data: str, x: float, y: float, side: float) -> None:
    widget = QrCodeWidget(data, barLevel="M")
    left, bottom, right, top = widget.getBounds()
    drawing = Drawing(
        side, side, transform=[side / (right - left), 0, 0, side / (top - bottom), 0, 0]
    )
    drawing.add(widget)
    renderPDF.draw(drawing, canvas, x, y)


def _fitting_size(words: str, font: str, width: float, *, largest: float) -> float:
    size = largest
    while size > MIN_FONT_PT and stringWidth(words, font, size) > width:
        size -= 0.5
    return size


def _shortened(words: str, font: str, size: float, width: float) -> str:
    if stringWidth(words, font, size) <= width:
        return words
    while words and stringWidth(words + "…", font, size) > width:
        words = words[:-1]
    return words + "…"


# 100 sheets of the densest stock: more is a print shop's job, and would hold a web worker.
MAX_LABELS = 2100


def labels_for(assets, request=None) -> list[LabelText]:
    return [
        label_text(asset, asset_address(asset, request))
        for asset in assets.defer(None).select_related("hardware_model__manufacturer", "site")
    ]


def asset_address(asset, request=None) -> str:
    """The address a label's QR code holds: `CIRCULUS_PUBLIC_URL` (the address people reach
    Circulus at) when set, else the address of the request that asks for the labels."""
    path = reverse("asset-by-tag", args=[asset.asset_tag])
    base = getattr(settings, "CIRCULUS_PUBLIC_URL", "")
    if base:
        return base.rstrip("/") + path
    if request is not None:
        return request.build_absolute_uri(path)
    return path


def pdf_response(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response
