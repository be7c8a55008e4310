"""The notifier: subscription webhooks fanned out by a separate consumer."""

from worker.notify.signing import verify

__all__ = ["verify"]
