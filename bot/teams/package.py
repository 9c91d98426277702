"""The Teams app package (`firebell teams package`): manifest.json, color.png and outline.png,
zipped, ready to upload in Teams (Apps > Manage your apps > Upload) or the Teams admin center.

The manifest (schema 1.17) declares the bot in personal, team and group-chat scopes, its command
lists (read from bot/command_table.py: Teams shows at most 10 a scope), and the
resource-specific consent that lets the bot read an incident channel without being mentioned
(`ChannelMessage.Read.Group`) and a group chat (`ChatMessage.Read.Chat`). The icons are drawn
here (a bell), so the package needs no image library.
"""

from __future__ import annotations

import json
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.command_table import TABLE, Command
from bot.settings import Settings
from workflows.ports import InvalidRequest

MANIFEST_SCHEMA = "https://developer.microsoft.com/en-us/json-schemas/teams/v1.17/MicrosoftTeams.schema.json"
MANIFEST_VERSION = "1.17"
APP_VERSION = "1.0.0"
COLOR_SIZE, OUTLINE_SIZE = 192, 32
ACCENT = (0xD9, 0x38, 0x1E)  # Firebell red
SCOPES = ("personal", "team", "groupChat")
RSC_PERMISSIONS = ("ChannelMessage.Read.Group", "ChatMessage.Read.Chat")
# The commands Teams suggests (it lists at most 10 a scope), in this order; all from the table.
SUGGESTED = (
    ("incident", "declare"), ("incident", "ack"), ("incident", "status"), ("incident", "role"),
    ("incident", "page"), ("incident", "note"), ("incident", "resolve"), ("incident", "list"),
    ("oncall",), ("incident", "help"),
)
_TITLE_LIMIT, _DESCRIPTION_LIMIT = 32, 128

Pixel = tuple[int, int, int, int]


def write_package(settings: Settings, out_path: Path | str) -> Path:
    """Write the app package for this bot registration (TEAMS_APP_ID) to `out_path`."""
    out = Path(out_path)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as package:
        package.writestr("manifest.json", json.dumps(manifest(settings), indent=2))
        package.writestr("color.png", color_icon())
        package.writestr("outline.png", outline_icon())
    return out


def manifest(settings: Settings) -> dict[str, Any]:
    app_id = settings.teams_app_id
    if not app_id:
        raise InvalidRequest("set TEAMS_APP_ID (the Azure Bot's Microsoft App ID) to build the "
                             "Teams app package")
    website = (settings.public_url or "").rstrip("/")
    domain = urlsplit(website).hostname
    if not website.startswith("https://") or not domain:
        raise InvalidRequest("set PUBLIC_URL to the bot's https address: Teams needs it as the "
                             "app's website and its valid domain")
    return {
        "$schema": MANIFEST_SCHEMA,
        "manifestVersion": MANIFEST_VERSION,
        "version": APP_VERSION,
        "id": app_id,
        "developer": {"name": "Firebell", "websiteUrl": website,
                      "privacyUrl": website, "termsOfUseUrl": website},
        "name": {"short": "Firebell", "full": "Firebell incident response"},
        "description": {
            "short": "Declare incidents, page on-call, run the response in Teams.",
            "full": ("Firebell pages whoever is on call until someone acknowledges, runs each "
                     "incident in its own channel with roles and status updates, and turns the "
                     "channel's timeline into a postmortem draft. Type `incident help`."),
        },
        "icons": {"color": "color.png", "outline": "outline.png"},
        "accentColor": "#{:02X}{:02X}{:02X}".format(*ACCENT),
        "bots": [{
            "botId": app_id,
            "scopes": list(SCOPES),
            "supportsFiles": False,
            "isNotificationOnly": False,
            "commandLists": [{"scopes": list(SCOPES), "commands": commands()}],
        }],
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": [domain],
        "webApplicationInfo": {"id": app_id, "resource": f"api://{domain}/botid-{app_id}"},
        "authorization": {"permissions": {"resourceSpecific": [
            {"name": name, "type": "Application"} for name in RSC_PERMISSIONS]}},
    }


def commands() -> list[dict[str, str]]:
    """The suggested commands as Teams lists them: the words (no slash) and the table's summary."""
    by_words: dict[tuple[str, ...], Command] = {c.words: c for c in TABLE}
    return [{"title": " ".join(words)[:_TITLE_LIMIT],
             "description": by_words[words].summary[:_DESCRIPTION_LIMIT]}
            for words in SUGGESTED if words in by_words]


# icons --------------------------------------------------------------------------------------
def color_icon() -> bytes:
    """192×192: a white bell on Firebell red (Teams shows it on its own background)."""
    white = (255, 255, 255, 255)
    return png(COLOR_SIZE, lambda x, y: white if _bell(x, y, COLOR_SIZE) else (*ACCENT, 255))


def outline_icon() -> bytes:
    """32×32: the bell in white on transparent, as Teams requires of an outline icon."""
    return png(OUTLINE_SIZE,
               lambda x, y: (255, 255, 255, 255) if _bell(x, y, OUTLINE_SIZE) else (0, 0, 0, 0))


def _bell(x: int, y: int, size: int) -> bool:
    """A bell: a dome, a flared body, a rim and a clapper, scaled to `size`."""
    u, v = (x + 0.5) / size, (y + 0.5) / size
    dome = (u - 0.5) ** 2 + (v - 0.38) ** 2 <= 0.2**2 and v <= 0.38
    body = 0.38 < v <= 0.66 and abs(u - 0.5) <= 0.2 + (v - 0.38) * 0.35
    rim = 0.66 < v <= 0.72 and abs(u - 0.5) <= 0.32
    clapper = (u - 0.5) ** 2 + (v - 0.78) ** 2 <= 0.06**2
    knob = (u - 0.5) ** 2 + (v - 0.16) ** 2 <= 0.04**2
    return dome or body or rim or clapper or knob


def png(size: int, pixel: Callable[[int, int], Pixel]) -> bytes:
    """A square RGBA PNG (8 bits a channel, no filtering) of `pixel(x, y)`."""
    rows = b"".join(b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(size))
                    for y in range(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(rows, 9)) + _chunk(b"IEND", b""))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
