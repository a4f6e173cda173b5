"""``print_log``: MMEngine's logging helper, on top of the standard :mod:`logging` module.

MMEngine routes everything through its own ``MMLogger``; here the "current" logger is simply the
standard logger named :data:`CURRENT_LOGGER_NAME`, so applications configure it (level, handlers)
the usual way and tests can read it with pytest's ``caplog``.
"""

from __future__ import annotations

import logging

CURRENT_LOGGER_NAME = "migrate_optim.runtime"


def get_current_logger() -> logging.Logger:
    """Return the logger that ``logger='current'`` writes to."""
    return logging.getLogger(CURRENT_LOGGER_NAME)


def print_log(
    msg: str,
    logger: logging.Logger | logging.LoggerAdapter | str | None = None,
    level: int = logging.INFO,
) -> None:
    """Log ``msg`` the way ``mmengine.logging.print_log`` does.

    ``logger`` may be ``None`` (plain ``print``), a :class:`logging.Logger` (or adapter),
    ``'silent'`` (drop the message), ``'current'`` (the runtime's logger, see
    :data:`CURRENT_LOGGER_NAME`) or any other string, taken as the name of a standard logger.
    Unlike MMEngine, an unknown logger name is not an error: the standard module creates it.
    """
    if logger is None:
        print(msg)
    elif isinstance(logger, (logging.Logger, logging.LoggerAdapter)):
        logger.log(level, msg)
    elif logger == "silent":
        return
    elif logger == "current":
        get_current_logger().log(level, msg)
    elif isinstance(logger, str):
        logging.getLogger(logger).log(level, msg)
    else:
        raise TypeError(
            "`logger` should be a logging.Logger, a logger name, 'silent', 'current' or None, "
            f"but got {type(logger)}"
        )
