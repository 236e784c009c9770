"""The authors' live preview: ``dunning preview`` serves on 127.0.0.1 a page that shows a
letter as the real PDF renders it, with a DRAFT watermark, and refreshes it when a template,
stylesheet, catalog, config or sample file is saved.

::

    workspace.py   selection → the real pipeline (plan, HTML, WeasyPrint) → page images,
                   the letter's findings (``dunning.check``), or the error to fix
    server.py      Starlette app: the page, its JSON API, page images, server-sent events;
                   the file watcher (watchfiles) that reloads the workspace
    static/        the page (HTML, CSS, JavaScript; no build step)
"""

from .server import create_app as create_app
from .server import serve as serve
from .workspace import Selection as Selection
from .workspace import Workspace as Workspace

__all__ = ["Selection", "Workspace", "create_app", "serve"]
