"""`firebell teams package`: a zip Teams accepts: manifest.json (schema 1.17, the bot, commands
from the command table, RSC permissions), and the two icons as real PNGs of the right sizes."""

from __future__ import annotations

import json
import struct
import zipfile
import zlib
from pathlib import Path

import pytest

from bot import command_table
from bot.settings import Settings
from bot.teams.package import write_package
from workflows.ports import InvalidRequest

APP_ID = "00000000-0000-0000-0000-00000000f1b3"


def _settings(**values: object) -> Settings:
    base: dict[str, object] = {"teams_app_id": APP_ID, "public_url": "https://firebell.example.com/"}
    base.update(values)
    return Settings(**base)  # type: ignore[arg-type]


def _read_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """Decode a PNG as a strict reader would: signature, every chunk's CRC, IHDR, IDAT rows."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    at, chunks = 8, []
    while at < len(data):
        (length,) = struct.unpack(">I", data[at:at + 4])
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length:at + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        chunks.append((kind, body))
        at += 12 + length
    assert [k for k, _ in chunks][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height, depth, color, _, _, _ = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, color) == (8, 6)  # RGBA
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride = 1 + width * 4
    assert len(raw) == stride * height
    return width, height, [raw[i * stride + 1:(i + 1) * stride] for i in range(height)]


def test_the_package_holds_a_manifest_teams_accepts_and_two_icons(tmp_path: Path) -> None:
    out = write_package(_settings(), tmp_path / "firebell-teams.zip")
    with zipfile.ZipFile(out) as package:
        assert sorted(package.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(package.read("manifest.json"))
        color, outline = package.read("color.png"), package.read("outline.png")
    assert manifest["manifestVersion"] == "1.17" and manifest["id"] == APP_ID
    assert "v1.17/MicrosoftTeams.schema.json" in manifest["$schema"]
    [bot] = manifest["bots"]
    assert bot["botId"] == APP_ID and bot["scopes"] == ["personal", "team", "groupChat"]
    assert manifest["validDomains"] == ["firebell.example.com"]
    assert manifest["webApplicationInfo"]["id"] == APP_ID
    assert manifest["authorization"]["permissions"]["resourceSpecific"] == [
        {"name": "ChannelMessage.Read.Group", "type": "Application"},
        {"name": "ChatMessage.Read.Chat", "type": "Application"}]
    assert manifest["developer"]["websiteUrl"] == "https://firebell.example.com"
    assert len(manifest["name"]["short"]) <= 30 and len(manifest["description"]["short"]) <= 80
    # Commands: Teams' limits (10 a list, 32/128 characters), each one a command of the table.
    [commands] = bot["commandLists"]
    listed = commands["commands"]
    assert 0 < len(listed) <= 10
    table = {" ".join(c.words): c.summary for c in command_table.TABLE}
    for command in listed:
        assert len(command["title"]) <= 32 and len(command["description"]) <= 128
        assert table[command["title"]].startswith(command["description"])
    assert {"incident declare", "incident ack", "oncall", "incident help"} <= {c["title"] for c in listed}
    # Icons: 192×192 full colour, 32×32 white on transparent.
    width, height, rows = _read_png(color)
    assert (width, height) == (192, 192)
    assert all(row[i] == 255 for row in rows for i in range(3, len(row), 4))
    width, height, rows = _read_png(outline)
    assert (width, height) == (32, 32)
    pixels = {row[i:i + 4] for row in rows for i in range(0, len(row), 4)}
    assert pixels == {b"\xff\xff\xff\xff", b"\x00\x00\x00\x00"}


@pytest.mark.parametrize("missing", [{"teams_app_id": None}, {"public_url": "http://plain.example"}])
def test_the_package_needs_the_app_id_and_an_https_address(tmp_path: Path,
                                                           missing: dict[str, object]) -> None:
    with pytest.raises(InvalidRequest):
        write_package(_settings(**missing), tmp_path / "x.zip")
