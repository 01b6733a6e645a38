"""``forestmon subscriptions add|list|remove|deliveries|resend``: who receives the weekly report, and the record of
what was delivered (``geo.workflow.subscriptions``)."""

from __future__ import annotations

from pathlib import Path

import click

from api.cli.options import data_dir_option, region_option, settings_from
from geo.region import load_region
from geo.store import open_store
from geo.workflow import subscriptions as subs


@click.group()
def subscriptions() -> None:
    """Subscriptions to the weekly report: an e-mail address or a webhook, a unit or the province, a language."""


@subscriptions.command()
@click.option("--email", default=None, help="Recipient address.")
@click.option("--webhook", "webhook_url", default=None, help="URL receiving a signed JSON POST.")
@click.option("--secret", default=None, help="The webhook's HMAC-SHA256 secret (default: a new random one, "
              "printed once).")
@click.option("--unit", "unit_id", default=None, help="Admin unit id (default: the whole province).")
@click.option("--lang", type=click.Choice(subs.LANGS), default="vi", show_default=True)
@data_dir_option
@region_option
def add(email: str | None, webhook_url: str | None, secret: str | None, unit_id: str | None, lang: str,
        data_dir: Path | None, region: str | None) -> None:
    """Add a subscription (give --email or --webhook)."""
    settings = settings_from(data_dir=data_dir, region=region)
    known = {str(u) for u in load_region(settings.region).units()["id"]}
    with open_store(settings.store) as store:
        sub = subs.add_subscription(store, email=email, webhook_url=webhook_url, unit_id=unit_id, lang=lang,
                                    secret=secret, known_units=known)
    click.echo(f"added subscription {sub['id']}: {sub['email'] or sub['webhook_url']} "
               f"({sub['unit_id'] or 'province'}, {sub['lang']})")
    if webhook_url and not secret:
        click.echo(f"webhook secret (shown once): {sub['secret']}")


@subscriptions.command(name="list")
@data_dir_option
def list_(data_dir: Path | None) -> None:
    """List subscriptions (webhook secrets are not shown)."""
    with open_store(settings_from(data_dir=data_dir).store) as store:
        for sub in subs.list_subscriptions(store):
            click.echo(f"{sub['id']}\t{sub['email'] or sub['webhook_url']}\t{sub['unit_id'] or 'province'}\t"
                       f"{sub['lang']}\t{'active' if sub['active'] else 'inactive'}")


@subscriptions.command()
@click.argument("subscription_id", type=int)
@data_dir_option
def remove(subscription_id: int, data_dir: Path | None) -> None:
    """Remove a subscription and its delivery records."""
    with open_store(settings_from(data_dir=data_dir).store) as store:
        subs.remove_subscription(store, subscription_id)
    click.echo(f"removed subscription {subscription_id}")


@subscriptions.command()
@click.option("--week", default=None, help="Only this week.")
@data_dir_option
def deliveries(week: str | None, data_dir: Path | None) -> None:
    """The delivery log: per subscription and week, sent, failed or sending (started, never confirmed)."""
    with open_store(settings_from(data_dir=data_dir).store) as store:
        for d in subs.deliveries(store, week):
            click.echo(f"{d['week']}\tsubscription {d['subscription_id']}\t{d['status']}\tattempts {d['attempts']}\t"
                       f"run {d['run_id']}\t{d['sent_at'] or ''}\t{d['error'] or ''}")


@subscriptions.command()
@click.option("--week", required=True, help="The week to send again.")
@click.option("--id", "subscription_id", type=int, default=None, help="Only this subscription.")
@data_dir_option
def resend(week: str, subscription_id: int | None, data_dir: Path | None) -> None:
    """Forget the deliveries of a week (delivery is at most once), so that `forestmon weekly --week W --force`
    sends them again."""
    with open_store(settings_from(data_dir=data_dir).store) as store:
        n = subs.forget_delivery(store, week, subscription_id)
    click.echo(f"{n} delivery record(s) of {week} forgotten: run `forestmon weekly --week {week} --force` to send")
