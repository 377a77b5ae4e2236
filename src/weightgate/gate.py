"""One gate run: manifest + policy → locations → static checks → streamed verification → findings → Report."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from weightgate import __version__
from weightgate.checks import CheckContext, run_checks
from weightgate.checks.approvals import approval_chain
from weightgate.errors import PolicyError
from weightgate.evidence.signatures import SignatureFacts, signature_facts
from weightgate.evidence.store import StoredRecords
from weightgate.facts import ArtifactFacts, FileFacts, MirrorListing
from weightgate.findings import sort_key
from weightgate.governance.digests import evidence_digests
from weightgate.governance.eval_evidence import fetch_evidence
from weightgate.governance.facts import ApprovalView, EvidenceFacts, GovernanceFacts, not_fetched
from weightgate.governance.model_card import CardCapture, model_card_facts
from weightgate.manifest import Manifest, load_manifest
from weightgate.mirror import MirrorLocation, locate_mirrors, open_approved_mirror, open_mirror
from weightgate.mirror.base import Mirror, MirrorUnavailable
from weightgate.mirror.settings import EndpointOptions, MirrorSettings, settings_for, with_endpoints
from weightgate.policy import FailOn, Policy, load_policy
from weightgate.progress import Progress
from weightgate.registry import RegistryLookups, RegistryUnavailable, look_up_entries, open_registry
from weightgate.report.interface import Report
from weightgate.runtime.collect import DependencyCapture
from weightgate.runtime.facts import RuntimeFacts
from weightgate.verify import DEFAULT_WORKERS, ReadBudget, VerifyJob, artifacts_to_read, verify_artifacts
from weightgate.waivers import apply_waivers

if TYPE_CHECKING:  # read only for --policy-ref and shards: imported when used (start-up)
    from weightgate.policy_ref import PolicyAtRef
    from weightgate.shards import ShardFacts, ShardSpec


@dataclass(frozen=True)
class CheckOptions:
    manifest: Path
    policy: Path | None = None
    mirror: str | None = None
    offline: bool = False
    fail_on: FailOn | None = None  # None: the policy's
    workers: int = DEFAULT_WORKERS
    today: datetime.date | None = None
    timestamp: datetime.datetime | None = None
    source_root: Path = field(default_factory=Path.cwd)
    endpoints: EndpointOptions = field(default_factory=EndpointOptions)  # --ca-bundle, --*-endpoint
    registry: Path | None = None  # file-based model registry; None: the policy's `registry.file`
    progress: Progress | None = None  # how the verify pass shows progress (the CLI picks bars, lines or none)
    evidence: str | None = None  # signed-records store (folder or URI); None: the policy's approvals.store
    # Read the policy (and the trust files it names) as committed at this git revision, never from the working
    # tree: the change under review cannot weaken its own gate. None: the policy file as it is.
    policy_ref: str | None = None
    reproducible: bool = False  # reports carry nothing of where the inputs were checked out
    # `merge`: shard files whose file facts stand in for this run's own verify pass (see shards.py).
    shards: tuple[Path, ...] = ()


def run_check(options: CheckOptions) -> Report:
    with _policy(options) as (policy, at_ref):
        return _check(options, policy, at_ref)


@contextlib.contextmanager
def _policy(options: CheckOptions) -> Iterator[tuple[Policy, PolicyAtRef | None]]:
    if options.policy_ref is None:
        yield with_endpoints(load_policy(options.policy), options.endpoints), None
    elif options.policy is None:
        raise PolicyError("--policy-ref needs --policy: the built-in policy has no revision to read",
                          hint="give the policy's path in the repository, e.g. --policy deploy/policy.yaml")
    else:
        from weightgate.policy_ref import policy_at_ref

        # The copy the policy was read from must outlive the check: keys and the registry are read during it.
        with policy_at_ref(options.policy, options.policy_ref) as at_ref:
            yield with_endpoints(at_ref.policy, options.endpoints), at_ref


def run_shard(options: CheckOptions, spec: ShardSpec) -> ShardFacts:
    """Verify this shard's share of the pinned files (shards.py); every other check waits for `merge`."""
    from weightgate.shards import ShardFacts, manifest_sha256, plan_shares, share_of, with_files

    with _policy(options) as (policy, _at_ref):
        loaded = load_manifest(options.manifest)
        if loaded.manifest is None:  # nothing to read: the merge reports the schema findings (and a merge of a
            # manifest that passes refuses this file, which names no manifest)
            return ShardFacts(spec, "", policy.sha256, {}, {}, {}, str(options.source_root.resolve()))
        manifest = loaded.manifest
        locations = locate_mirrors(manifest, options.mirror)
        share = share_of(plan_shares(manifest, locations, spec.count)[spec.index - 1])
        cards, dependencies = CardCapture(manifest), DependencyCapture(manifest)
        jobs = [with_files(job, share[job.artifact_id])
                for job in _jobs(manifest, locations, settings_for(policy), cards, dependencies)
                if job.artifact_id in share]
        facts = verify_artifacts(jobs, options.workers, options.progress,
                                 ReadBudget(policy.request_timeout_s, policy.file_deadline_s))
        files: dict[tuple[str, int], FileFacts] = {}
        captured: dict[tuple[str, int], bytes] = {}
        for artifact in facts:
            for index, file in zip(share[artifact.artifact_id], artifact.files, strict=True):
                files[(artifact.artifact_id, index)] = file
                data = cards.captured_file(artifact.artifact_id, file.path)
                if data is None:  # an empty card is b"": kept as the one-run pass keeps it
                    data = dependencies.captured(artifact.artifact_id, file.path)
                if file.verified and data is not None:
                    captured[(artifact.artifact_id, index)] = data
        return ShardFacts(spec, manifest_sha256(manifest), policy.sha256,
                          {a.artifact_id: a.mirror_uri for a in facts}, files, captured,
                          str(options.source_root.resolve()))


def _check(options: CheckOptions, policy: Policy, at_ref: PolicyAtRef | None) -> Report:
    loaded = load_manifest(options.manifest)
    timestamp = options.timestamp or datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    # The day dates are judged on comes from the clock (or --as-of), never from a fixed report timestamp
    # (--reproducible, SOURCE_DATE_EPOCH): an old stamp must not revive an expired waiver.
    today = options.today or datetime.datetime.now(datetime.timezone.utc).date()
    manifest = loaded.manifest
    findings = list(loaded.findings)
    facts: tuple[ArtifactFacts, ...] = ()
    governance = GovernanceFacts()
    approvals: dict[str, tuple[ApprovalView, ...]] = {}
    runtime: RuntimeFacts | None = None
    if manifest is not None:
        locations = locate_mirrors(manifest, options.mirror)
        evidence = _start_evidence(manifest, locations, settings_for(policy), options.offline)
        signatures = _start_signatures(manifest, policy, locations, options.offline)
        listings = _start_listings(manifest, locations, settings_for(policy), options.offline)
        cards = CardCapture(manifest)  # pinned model cards are kept from the verify pass's own stream
        dependencies = DependencyCapture(manifest)  # so are pinned requirements files
        if options.shards:
            facts = _merged(options.shards, manifest, policy, locations, cards, dependencies, options.source_root)
        elif not options.offline:
            facts = verify_artifacts(_jobs(manifest, locations, settings_for(policy), cards, dependencies),
                                     options.workers, options.progress,
                                     ReadBudget(policy.request_timeout_s, policy.file_deadline_s))
        runtime = _runtime(manifest, policy, facts, dependencies, options, today)
        store = _evidence_store(policy, options)
        governance = GovernanceFacts(
            evidence.result(), _registry_lookups(manifest, policy, options, at_ref), signatures.result(),
            model_card_facts(manifest, {f.artifact_id: f for f in facts}, cards, locations,
                             lambda location: open_approved_mirror(location, settings_for(policy)), options.offline),
            _signed_records(store, manifest, policy, facts, options.offline, today), store, listings.result(),
        )
        ctx = CheckContext(manifest, policy, locations, {f.artifact_id: f for f in facts}, today, options.offline,
                           governance, runtime)
        findings = apply_waivers(run_checks(ctx), policy, _digests(manifest, facts), today)
        approvals = {a.id: approval_chain(ctx, a) for a in manifest.artifacts}
    if at_ref is not None:
        from weightgate.policy_ref import policy_edit_findings

        findings += policy_edit_findings(at_ref)
    return Report(
        tool_version=__version__, policy=policy, fail_on=options.fail_on or policy.fail_on,
        findings=tuple(sorted(findings, key=sort_key)), timestamp=timestamp, source_root=options.source_root,
        manifest=manifest, facts=facts, offline=options.offline, governance=governance, approvals=approvals,
        runtime=runtime,
        manifest_path=options.manifest, reproducible=options.reproducible,
    )


def _merged(paths: Iterable[Path], manifest: Manifest, policy: Policy,
            locations: Mapping[str, MirrorLocation | None], cards: CardCapture,
            dependencies: DependencyCapture, root: Path) -> tuple[ArtifactFacts, ...]:
    """The shards' file facts in place of a verify pass, and the small files they kept, as that pass keeps them."""
    from weightgate.shards import merge_shards, read_shard

    merged = merge_shards([read_shard(path) for path in paths], manifest, policy.sha256, locations, root)
    for (artifact_id, index), data in merged.captured.items():
        artifact = manifest.artifact(artifact_id)
        assert artifact is not None
        cards.keep(artifact_id, artifact.files[index].path, data)
        dependencies.keep(artifact_id, artifact.files[index].path, data)
    return merged.facts


def _runtime(manifest: Manifest, policy: Policy, facts: Iterable[ArtifactFacts], dependencies: DependencyCapture,
             options: CheckOptions, today: datetime.date) -> RuntimeFacts:
    """Dependency files (captured from the verify pass; service locks read now) matched against the pinned
    advisory snapshot. Offline, only local locks and a local snapshot are read."""
    from weightgate.runtime.collect import artifact_dependency_files, collect_runtime, service_lock_files

    settings = settings_for(policy)

    def lock_opener(location: MirrorLocation) -> Mirror:
        # A lock on this machine is pinned by sha256 (and kept inside the repository): read it. A network location
        # the manifest names must be an approved mirror, so no request or credential goes where the manifest chose.
        return open_mirror(location, settings) if location.local_path else open_approved_mirror(location, settings)

    def snapshot_opener(location: MirrorLocation) -> Mirror:
        return open_mirror(location, settings)  # the trusted policy names it, and pins its bytes

    # The clock: now, or with --as-of noon UTC of that day (an audit judges the advisories as of then).
    judged_at = (datetime.datetime.combine(options.today, datetime.time(12), datetime.timezone.utc) if options.today
                 else datetime.datetime.now(datetime.timezone.utc))
    files = [*artifact_dependency_files(manifest, {f.artifact_id: f for f in facts}, dependencies, options.offline),
             *service_lock_files(manifest, lock_opener, options.source_root, options.offline)]
    advisories = policy.advisories
    if options.offline and advisories.snapshot and "://" in advisories.snapshot \
            and not advisories.snapshot.startswith("file://"):
        advisories = dataclasses.replace(advisories, snapshot=None)  # not read offline; reported as not configured
    return collect_runtime(manifest, advisories, files, snapshot_opener, judged_at)


def _jobs(manifest: Manifest, locations: Mapping[str, MirrorLocation | None],
          settings: MirrorSettings, cards: CardCapture | None = None,
          dependencies: DependencyCapture | None = None) -> list[VerifyJob]:
    jobs = []
    for artifact in artifacts_to_read(manifest, locations):
        location = locations[artifact.id]
        assert location is not None
        try:
            mirror = open_approved_mirror(location, settings)
            mirror = cards.wrap(artifact.id, mirror) if cards else mirror
            mirror = dependencies.wrap(artifact.id, mirror) if dependencies else mirror
            jobs.append(VerifyJob(artifact.id, location.uri, mirror, artifact.files))
        except MirrorUnavailable as e:
            jobs.append(VerifyJob(artifact.id, location.uri, None, artifact.files, unavailable_reason=str(e)))
    return jobs


def _digests(manifest: Manifest, facts: Iterable[ArtifactFacts]) -> dict[str, str]:
    """The digest each artifact's waivers are matched against: the same one approvals, eval evidence and
    registry entries bind to (verified, or offline the pins' digest)."""
    return {artifact_id: bound.value for artifact_id, bound in evidence_digests(manifest, facts).items()}


def _start_evidence(manifest: Manifest, locations: Mapping[str, MirrorLocation | None], settings: MirrorSettings,
                    offline: bool) -> Future[dict[str, EvidenceFacts]]:
    """Start reading eval evidence beside the verify pass (each file streamed once); offline, record it as
    not fetched. The caller takes `.result()` after the verify pass."""
    if offline:
        done: Future[dict[str, EvidenceFacts]] = Future()
        done.set_result(not_fetched(manifest))
        return done
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evidence")
    try:
        return pool.submit(fetch_evidence, manifest, locations,
                           lambda location: open_approved_mirror(location, settings))
    finally:
        pool.shutdown(wait=False)  # the submitted read still runs to completion


def _start_signatures(manifest: Manifest, policy: Policy, locations: Mapping[str, MirrorLocation | None],
                      offline: bool) -> Future[dict[str, SignatureFacts]]:
    """Read and verify model-signing bundles beside the verify pass (they are small; the model's bytes are
    never read for them). The signed file lists are compared with the streamed digests by the checks."""
    settings = settings_for(policy)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="signatures")
    try:
        return pool.submit(signature_facts, manifest, policy.signatures, locations,
                           lambda location: open_approved_mirror(location, settings), offline)
    finally:
        pool.shutdown(wait=False)


def _start_listings(manifest: Manifest, locations: Mapping[str, MirrorLocation | None], settings: MirrorSettings,
                    offline: bool) -> Future[dict[str, MirrorListing]]:
    """List each artifact's location beside the verify pass, for the files it does not pin (pinned files are
    never re-read; an unpinned local file only for its head). Offline, local folders are still listed."""
    from weightgate.unpinned import list_unpinned

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="listing")
    try:
        return pool.submit(list_unpinned, manifest, locations,
                           lambda location: open_approved_mirror(location, settings), offline)
    finally:
        pool.shutdown(wait=False)


def _evidence_store(policy: Policy, options: CheckOptions) -> str | None:
    if options.evidence is None:
        return policy.evidence.store
    return options.evidence if "://" in options.evidence else str(Path(options.evidence).resolve())


def _signed_records(store: str | None, manifest: Manifest, policy: Policy, facts: Iterable[ArtifactFacts],
                    offline: bool, today: datetime.date) -> dict[str, StoredRecords]:
    """The signed records kept for each artifact's digest (verified, or offline the pins' digest). Offline, only a
    local store is read: a network store waits for the full run."""
    if store is None:
        return {}
    from weightgate.evidence.store import not_fetched, read_all

    digests = {artifact_id: bound.evidence_key for artifact_id, bound in evidence_digests(manifest, facts).items()}
    if offline and "://" in store and not store.startswith("file://"):
        return not_fetched(store, digests)
    settings = settings_for(policy)
    # Certificates are judged valid now when the day judged is today; for an audit of another day (--as-of), at
    # noon UTC of that day. (Noon of today would refuse a reviewer certificate issued this afternoon.)
    now = datetime.datetime.now(datetime.timezone.utc)
    when = now if today == now.date() else datetime.datetime.combine(today, datetime.time(12), datetime.timezone.utc)
    return read_all(store, digests, lambda location: open_mirror(location, settings), policy.evidence.all_signers,
                    policy.evidence.trust_root, when)


def _registry_lookups(manifest: Manifest, policy: Policy, options: CheckOptions,
                      at_ref: PolicyAtRef | None = None) -> RegistryLookups:
    """Look up the manifest's registry entries (not offline: a registry may be a server). A registry file read
    at the policy ref is named `<commit>:<path>`, not by the temporary copy it was read from."""
    lookups = _look_up_registry(manifest, policy, options)
    if at_ref is None:
        return lookups
    return dataclasses.replace(lookups, uri=lookups.uri and at_ref.shown(lookups.uri),
                               unavailable=lookups.unavailable and at_ref.shown(lookups.unavailable))


def _look_up_registry(manifest: Manifest, policy: Policy, options: CheckOptions) -> RegistryLookups:
    path = options.registry or policy.governance.registry_file
    if options.offline:
        return RegistryLookups(offline=True)
    if policy.governance.registry_backend == "mlflow" and options.registry is None:
        return _mlflow_lookups(manifest, policy)
    if path is None or not any(a.registry_entry for a in manifest.artifacts):
        return RegistryLookups(uri=path.resolve().as_uri() if path else None)
    try:
        return look_up_entries(open_registry(path), manifest)
    except RegistryUnavailable as e:
        return RegistryLookups(uri=path.resolve().as_uri(), unavailable=str(e))


def _mlflow_lookups(manifest: Manifest, policy: Policy) -> RegistryLookups:
    from weightgate.registry.mlflow import MlflowRegistry

    settings = settings_for(policy)
    try:
        return look_up_entries(MlflowRegistry(settings), manifest)
    except RegistryUnavailable as e:
        return RegistryLookups(uri=settings.mlflow_tracking_uri, name="mlflow", unavailable=str(e))
