"""One record → one outcome: plan the letter (stage, suppression, figures), then render it.

:class:`Dunning` holds what every letter needs (settings, brands, policy, the PDF renderer)
and is what both the batch and ``dunning render`` call, so one record gives the same letter
whichever way it is made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from .archive import archive_options
from .compose import environment, letter_context, render_html
from .config import Brands, load_brands
from .errors import ConfigError, TemplateError
from .hashing import files_hash, letter_files
from .locale import translations
from .money import itemize, repayment_options
from .output import safe_name
from .pdf import PdfRenderer
from .plan import Letter as Letter
from .plan import Plan as Plan
from .plan import letter_reference
from .policy import BrandPolicy, Policy, Stage, load_policy, suppression_for
from .records import Record, RecordRules
from .settings import SUPPORTED_LOCALES, Settings
from .vcode import code_for
from .yamlconf import config_error


@dataclass
class Dunning:
    """The loaded configuration plus a warm renderer; make one per process."""

    settings: Settings
    brands: Brands
    policy: Policy
    _renderer: PdfRenderer | None = field(default=None, repr=False)

    @classmethod
    def load(cls, settings: Settings | None = None) -> Dunning:
        """Read and validate brands and policy (ConfigError on any problem)."""
        settings = settings or Settings.discover()
        # Templates and catalogs are read again: a Dunning loaded after they changed (in a
        # long-lived process) must not make letters from the ones cached before.
        environment.cache_clear()
        translations.cache_clear()
        brands = load_brands(settings.brands_file, settings.assets_dir)
        policy = load_policy(settings.policy_file, brands.keys())
        supported = ", ".join(SUPPORTED_LOCALES)
        if settings.default_locale not in SUPPORTED_LOCALES:
            raise config_error(
                ConfigError,
                f"default_locale {settings.default_locale!r} is not supported ({supported})",
                path=str(settings.config_dir / "settings.yaml"), key="default_locale",
            )
        for brand in brands.by_key.values():
            if brand.default_locale is not None and brand.default_locale not in SUPPORTED_LOCALES:
                raise config_error(
                    ConfigError,
                    f"default_locale {brand.default_locale!r} is not supported ({supported})",
                    path=str(settings.brands_file), key=f"brands.{brand.key}.default_locale",
                )
        for brand in brands.by_key.values():
            if brand.currency not in settings.currencies:
                raise config_error(
                    ConfigError, f"currency {brand.currency} is not one letters are made in "
                    f"({', '.join(sorted(settings.currencies))}; settings.yaml: currencies)",
                    path=str(settings.brands_file), key=f"brands.{brand.key}.currency")
        # Signing keys and verification-code secrets are there, before any letter is made.
        from .sign import check_signing
        from .vcode import check_secrets

        check_signing(brands.by_key)
        check_secrets(brands.by_key)
        for locale in SUPPORTED_LOCALES:  # every catalog loads, before any letter is made
            translations(settings.locales_dir, locale)
            if not settings.fonts.get(locale):
                raise ConfigError(f"no fonts configured for locale {locale}")
        return cls(settings=settings, brands=brands, policy=policy)

    @property
    def renderer(self) -> PdfRenderer:
        if self._renderer is None:
            self._renderer = PdfRenderer(
                self.settings.assets_dir, self.settings.fonts,
                allow_slow_subsetting=self.settings.allow_slow_subsetting,
            )
        return self._renderer

    def warm(self) -> None:
        """Build the renderer if there is none yet and warm it (fonts, stylesheets): what a
        worker does once before its first letter."""
        if self._renderer is None:
            self.renderer.warm()

    def renew_renderer(self) -> None:
        """Drop the renderer; the next letter builds (and :meth:`warm` warms) a fresh one.
        For a worker recycling what WeasyPrint accumulates, or after a letter was
        interrupted in the middle of rendering."""
        self._renderer = None

    def __getstate__(self) -> dict[str, object]:
        """Pickled into worker processes without the renderer: each builds its own."""
        return {**self.__dict__, "_renderer": None}

    def record_rules(self) -> RecordRules:
        return RecordRules(brands=self.brands.by_key, supported_locales=SUPPORTED_LOCALES,
                           currencies=self.settings.currencies)

    def policy_for(self, record: Record) -> BrandPolicy:
        """The policy for the record's brand and product."""
        return self.policy.for_brand(record.brand, record.product or None)

    def locale_for(self, record: Record) -> str:
        """The letter's locale: the record's, else its brand's, else the configured one.
        (Its wording may come from fallbacks: ``settings.LOCALE_FALLBACKS``.)"""
        return (record.locale or self.brands[record.brand].default_locale
                or self.settings.default_locale)

    def plan(self, record: Record, as_of: date, *, last_notice: date | None = None) -> Plan:
        """Stage, suppression and figures for ``record`` as of ``as_of``."""
        policy = self.policy_for(record)
        items = itemize(record, as_of, policy)
        dpd = (as_of - record.due_date).days
        notices = [d for d in (record.last_notice_date, last_notice) if d is not None]
        suppression = suppression_for(
            dpd=dpd, total=items.total, flags=record.flags,
            last_notice=max(notices) if notices else None, as_of=as_of, policy=policy,
        )
        stage = None if suppression else policy.stage_for(dpd)
        options = repayment_options(items, policy, stage) if stage else None
        return Plan(record=record, as_of=as_of, locale=self.locale_for(record), items=items,
                    stage=stage, suppression=suppression, options=options)

    def plan_as(self, record: Record, stage: Stage, *, locale: str | None = None,
                as_of: date | None = None) -> Plan:
        """A ``stage`` letter for ``record`` in ``locale`` (default: the record's), whatever
        its dates and flags say: for template previews and checks, never the batch.

        No suppression applies. The letter is dated ``as_of`` when its days past due fall in
        the stage's band, else the band's first day after the due date, so its figures are
        those of a real letter at that stage."""
        policy = self.policy_for(record)
        band = policy.stages[stage]
        dpd = (as_of - record.due_date).days if as_of else 0
        if as_of is None or dpd < band.min_dpd or (band.max_dpd is not None
                                                   and dpd > band.max_dpd):
            as_of = date.fromordinal(record.due_date.toordinal() + band.min_dpd)
        items = itemize(record, as_of, policy)
        return Plan(record=record, as_of=as_of, locale=locale or self.locale_for(record),
                    items=items, stage=stage, suppression=None,
                    options=repayment_options(items, policy, stage))

    def html(self, plan: Plan) -> str:
        if plan.stage is None or plan.options is None:
            raise ValueError("a suppressed record has no letter")
        record = plan.record
        context = letter_context(
            record=record, brand=self.brands[record.brand],
            policy=self.policy_for(record), stage=plan.stage,
            locale=plan.locale, items=plan.items, options=plan.options, as_of=plan.as_of,
        )
        return render_html(context, templates_dir=self.settings.templates_dir,
                           locales_dir=self.settings.locales_dir,
                           template=self.settings.letter_template)

    def render(self, plan: Plan) -> Letter:
        """The letter for a plan with a stage (TemplateError / RenderError on failure)."""
        markup = self.html(plan)
        brand = self.brands[plan.record.brand]
        archive = (archive_options(plan, brand, self.settings.tz)
                   if self.settings.pdf_archive else None)
        pdf = self.renderer.render(markup, plan.locale, archive)
        code = code_for(letter_reference(plan.record.contract_no, plan.as_of), brand)
        if pdf.qr_codes != ((code,) if code else ()):
            raise TemplateError(
                "the letter's verification code needs its QR code, once: put "
                "{{ letter.verification.qr }} in the tag of the element that prints the code, "
                'as templates/letter/partials/signature.html does: <div class="vcode" '
                "{{ letter.verification.qr }}>" if code else
                "the letter paints a QR code, but its brand prints no verification code "
                "(brands.yaml verification:)", kind="template")
        return Letter(plan=plan, html=markup, pdf=pdf)

    def template_version(self) -> str:
        """A hash of everything that shapes a letter besides the record, and of nothing
        else: the templates and their assets, the compiled catalogs and the config files
        a letter is made from (:func:`~dunning.hashing.letter_files`)."""
        settings = self.settings
        files = letter_files(settings.templates_dir, settings.locales_dir, settings.config_dir)
        return files_hash(files, settings.root)

    def letter_path(self, plan: Plan, version: int = 1) -> Path:
        """Where the letter goes, relative to the run's output folder; a later version of
        the same letter (changed data or templates) gets ``~v2``, ``~v3``… so the earlier
        file is kept. No account's own file name can take that form: a file name stem from
        :func:`~dunning.output.safe_name` has a ``~`` only before an 8-digit hex hash at its
        end, so ``X~v2.pdf`` is never the file of an account (``X.v2``'s is ``X.v2.pdf``)."""
        return self.letter_file(plan.record, str(plan.stage), version)

    @staticmethod
    def letter_file(record: Record, stage: str, version: int = 1) -> Path:
        """:meth:`letter_path` for a record and the stage its letter has."""
        return Path(Dunning.letter_name(record, stage, version))

    @staticmethod
    def letter_name(record: Record, stage: str, version: int = 1) -> str:
        """:meth:`letter_file` as the manifest writes it (``brand/stage/name.pdf``), made
        without building a Path (the dry run names every letter of an export)."""
        suffix = f"~v{version}" if version > 1 else ""
        return f"{record.brand}/{stage}/{safe_name(record.account_id)}{suffix}.pdf"
