"""What a check, /readyz, /metrics and the log say when Kafka gives the daemon fewer records than it has.

Three causes, each told as what it is: the broker unreachable (an outage), a poll
failure that is not one (the broker answered: not authorized, no offset to start
from, a record too large, a setting kafka-python refuses), and partitions stalled
behind a record batch that cannot be decoded. ``classify`` is checked on
kafka-python's own exception classes; the source on a scripted consumer; the
daemon's surfaces (a check's notes in /api/models, the HTML report and the webhook
event, /readyz, ``driftwatch_kafka_up``) without a broker. The same against the
real broker (a group without offsets and ``auto_offset_reset: none``, both readers)
is marked slow.

With ``kafka.client: confluent`` (librdkafka): ``classify`` is checked on its error codes, the
no-offset scenario runs with it on the real broker, and so does a missing topic (which librdkafka
reports as a partition error). The scripted-consumer tests drive the source through the consumer
protocol, the same code for either client. Not run with librdkafka, as they do not apply: a record
too large (librdkafka fetches a batch larger than max.partition.fetch.bytes anyway), a batch kafka-python
cannot decode (librdkafka decodes in C and reports a bad record as a partition error), kafka-python's
cluster metadata and the reader process (kafka-python's alone: ``kafka.reader: process`` is refused
with ``kafka.client: confluent``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from kafka import TopicPartition
from kafka.consumer.fetcher import RecordTooLargeError
from kafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConfigurationError,
    KafkaConnectionError,
    KafkaTimeoutError,
    NodeNotReadyError,
    NoOffsetForPartitionError,
    OffsetOutOfRangeError,
    RequestTimedOutError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
)

import driftwatch.source.kafka as kafka_source
from driftwatch.alerting.events import alert_event
from driftwatch.checks.ids import CheckId
from driftwatch.config import KafkaSettings, load_settings
from driftwatch.service.daemon import Daemon
from driftwatch.service.metrics import Metrics
from driftwatch.source import messages as m
from driftwatch.source.kafka import KafkaSource
from driftwatch.source.problems import ConsumerProblem, ConsumerProblemError, classify, missing_topics
from driftwatch.source.reader import ReaderExitedError
from driftwatch.source.thread_reader import ThreadConsumer
from driftwatch.source.undecodable import UndecodableBatch
from tests.unit.test_no_data import Clock, shifted, write_config

TP = TopicPartition("predictions", 0)


# classify, on kafka-python's exception classes ----------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "reason", "in_fix"),
    [
        (TopicAuthorizationFailedError({"predictions"}), "not_authorized", "Read and Describe"),
        (GroupAuthorizationFailedError("driftwatch"), "not_authorized", "consumer group 'g'"),
        (NoOffsetForPartitionError({TP}), "no_offset", "auto_offset_reset is none"),
        (OffsetOutOfRangeError({TP: 5}), "no_offset", "earliest"),
        (
            RecordTooLargeError("There are some messages at [Partition=Offset]: ..."),
            "record_too_large",
            "max_partition_fetch_bytes",
        ),
        (KafkaConfigurationError("Unrecognized isolation_level"), "configuration", "kafka.options"),
    ],
)
def test_errors_retrying_cannot_fix_are_named_with_their_fix(
    exc: Exception, reason: str, in_fix: str
) -> None:
    problem = classify(exc, "g")
    assert problem is not None
    assert problem.reason == reason
    assert in_fix in problem.fix
    assert type(exc).__name__ in problem.error
    assert problem.broker_answered is (reason != "configuration")  # kafka-python checks settings first
    assert "not a network failure" in problem.describe()


@pytest.mark.parametrize(
    "exc",
    [
        KafkaConnectionError("socket disconnected"),
        KafkaTimeoutError("bootstrap"),
        NodeNotReadyError(1),
        RequestTimedOutError(),
        UnknownTopicOrPartitionError(),  # retriable: kafka-python waits for the topic's metadata
        OSError("connection refused"),
        RuntimeError("the reader process said so"),
    ],
)
def test_network_and_transient_failures_are_not_problems(exc: Exception) -> None:
    assert classify(exc) is None


# classify, on librdkafka's errors (kafka.client: confluent) ---------------------------------------
# No record_too_large case: librdkafka fetches a batch larger than max.partition.fetch.bytes anyway.


def librdkafka_error(name: str) -> Exception:
    from confluent_kafka import KafkaError, KafkaException

    return KafkaException(KafkaError(getattr(KafkaError, name)))


@pytest.mark.parametrize(
    ("name", "reason", "in_fix"),
    [
        ("TOPIC_AUTHORIZATION_FAILED", "not_authorized", "Read and Describe"),
        ("GROUP_AUTHORIZATION_FAILED", "not_authorized", "consumer group 'g'"),
        ("_AUTO_OFFSET_RESET", "no_offset", "auto_offset_reset is none"),
        ("OFFSET_OUT_OF_RANGE", "no_offset", "earliest"),
        ("_INVALID_ARG", "configuration", "kafka.options"),
        ("INVALID_CONFIG", "consumer_error", "the broker refused"),
        ("_FATAL", "consumer_error", "librdkafka cannot go on"),
    ],
)
def test_librdkafka_errors_retrying_cannot_fix_are_named_with_their_fix(
    name: str, reason: str, in_fix: str
) -> None:
    problem = classify(librdkafka_error(name), "g")
    assert problem is not None
    assert problem.reason == reason
    assert in_fix in problem.fix
    assert problem.error.startswith(f"{name}: ")  # librdkafka's name for it, then its text
    assert problem.broker_answered is (reason != "configuration")  # librdkafka checks settings first
    assert "not a network failure" in problem.describe()


@pytest.mark.parametrize(
    "name", ["_TRANSPORT", "_ALL_BROKERS_DOWN", "_RESOLVE", "_TIMED_OUT", "UNKNOWN_TOPIC_OR_PART"]
)
def test_librdkafka_network_and_transient_failures_are_not_problems(name: str) -> None:
    assert classify(librdkafka_error(name)) is None


class LibMessage:
    """A confluent-kafka ``Message``: a record, or a partition's error."""

    def __init__(self, partition: int, offset: int, error: Any = None) -> None:
        self._partition, self._offset, self._error = partition, offset, error

    def error(self) -> Any:
        return self._error

    def topic(self) -> str:
        return "predictions"

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def timestamp(self) -> tuple[int, int]:
        return (1, 0)

    def key(self) -> bytes | None:
        return None

    def value(self) -> bytes | None:
        return b"{}"

    def headers(self) -> None:
        return None


class LibConsumer:
    """confluent-kafka's ``Consumer`` handing over ``messages`` at the first poll, nothing after."""

    def __init__(self, messages: list[LibMessage]) -> None:
        self.messages = messages

    def poll(self, timeout: float) -> LibMessage | None:
        return self.messages.pop(0) if self.messages else None

    def consume(self, count: int, timeout: float) -> list[LibMessage]:
        taken, self.messages = self.messages[:count], self.messages[count:]
        return taken


def test_librdkafka_records_polled_with_a_partition_error_are_handed_over_before_it_is_raised() -> None:
    """librdkafka has moved past records it handed over with another partition's error in the same poll:
    raising at once would drop them; they come first, the error at the next poll (and again while that
    partition stays assigned without an offset to start from: librdkafka reports it once)."""
    from confluent_kafka import KafkaError, KafkaException

    from driftwatch.source.confluent import ConfluentConsumer

    no_offset = KafkaError(KafkaError._AUTO_OFFSET_RESET)
    lib = LibConsumer([LibMessage(0, 7), LibMessage(1, -1001, no_offset), LibMessage(0, 8)])
    consumer = ConfluentConsumer({}, factory=lambda config: lib)
    consumer._assigned(None, [TP, TopicPartition("predictions", 1)])
    batches = consumer.poll(0)
    assert [r.offset for r in batches[TP]] == [7, 8]
    for _ in range(2):
        with pytest.raises(KafkaException) as raised:
            consumer.poll(0)
        assert raised.value.args[0].code() == KafkaError._AUTO_OFFSET_RESET
        assert classify(raised.value) is not None
    consumer._assigned(None, [TP])  # reassigned: librdkafka looks for the committed offsets again
    assert consumer.poll(0) == {}


def test_a_problem_crosses_the_reader_pipe_whole() -> None:
    problem = classify(TopicAuthorizationFailedError({"predictions"}), "g")
    assert problem is not None
    shipped = m.decode_from_reader(m.encode(m.PollError(problem.describe(), problem)))
    assert isinstance(shipped, m.PollError) and shipped.problem == problem
    assert classify(ConsumerProblemError(problem)) == problem


# the source, on a scripted consumer ---------------------------------------------------------------


class ScriptedConsumer:
    """Each poll takes the next step: an exception is raised, a callable is called (and nothing returned),
    a list of offsets is returned as records of predictions[0]; at the end of the script ``stop`` is set."""

    def __init__(self, stop: threading.Event, script: list[Any]) -> None:
        self.stop = stop
        self.script = script

    def subscribe(self, topics: list[str], listener: Any) -> None:
        pass

    def poll(self, timeout_ms: int) -> dict[Any, list[Any]]:
        if not self.script:
            self.stop.set()
            return {}
        step = self.script.pop(0)
        if isinstance(step, BaseException):
            raise step
        if callable(step):
            step()
            return {}
        return {TP: [Record(offset) for offset in step]}

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    def highwater(self, tp: TopicPartition) -> int | None:
        return None

    def commit(self, offsets: Any = None) -> None:
        pass

    def close(self, autocommit: bool = False) -> None:
        pass


class Record:
    def __init__(self, offset: int) -> None:
        self.topic, self.partition, self.offset, self.timestamp, self.value = (
            "predictions",
            0,
            offset,
            0,
            b"{}",
        )


def kafka_up(metrics: Metrics) -> float | None:
    return metrics.registry.get_sample_value("driftwatch_kafka_up")


def scripted_source(
    script: Callable[[KafkaSource, Metrics], list[Any]],
    monkeypatch: pytest.MonkeyPatch,
    factory_error: Exception | None = None,
) -> tuple[KafkaSource, Metrics, list[int]]:
    monkeypatch.setattr(kafka_source, "_PROBLEM_RETRY", 0.01)
    metrics = Metrics()
    stop = threading.Event()
    handled: list[int] = []
    steps: list[list[Any]] = []
    settings = KafkaSettings(bootstrap_servers=["127.0.0.1:9"], topic="predictions", group_id="g")
    source: KafkaSource

    def factory(**config: Any) -> ScriptedConsumer:
        if factory_error is not None:
            stop.set()
            raise factory_error
        if (
            not steps
        ):  # one script for every consumer the source makes (it makes another after a reader exits)
            steps.append(script(source, metrics))
        return ScriptedConsumer(stop, steps[0])

    source = KafkaSource(
        settings, lambda batch: handled.extend(m.offset for m in batch), metrics, consumer_factory=factory
    )
    source.run(stop)
    return source, metrics, handled


def test_a_poll_the_broker_refused_is_named_not_an_outage_and_is_over_when_records_arrive(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[tuple[str | None, bool, float | None, str | None]] = []

    def script(source: KafkaSource, metrics: Metrics) -> list[Any]:
        def look() -> None:
            reason = source.problem.reason if source.problem is not None else None
            seen.append((reason, source.connected, kafka_up(metrics), source.last_error))

        denied = TopicAuthorizationFailedError({"predictions"})
        return [denied, look, denied, look, [0, 1, 2], look]

    caplog.set_level(logging.INFO, logger="driftwatch")
    source, _, handled = scripted_source(script, monkeypatch)
    # while polls are refused: the broker answers (kafka_up 1), the problem is named; then records arrive
    assert seen == [("not_authorized", True, 1.0, None)] * 2 + [(None, True, 1.0, None)]
    assert handled == [0, 1, 2]
    assert source.problem is None and source.problem_since is None
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    (error,) = errors  # once, not once per poll; no "retrying (check kafka.bootstrap_servers ...)"
    assert (
        "not_authorized" in error
        and "TopicAuthorizationFailedError" in error
        and "Read and Describe" in error
    )


def test_a_network_failure_is_still_an_outage(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[bool, bool, str | None, float | None]] = []

    def script(source: KafkaSource, metrics: Metrics) -> list[Any]:
        def look() -> None:
            seen.append((source.problem is None, source.connected, source.last_error, kafka_up(metrics)))

        return [KafkaConnectionError("socket disconnected"), look]

    scripted_source(script, monkeypatch)
    assert seen == [(True, False, "poll failed: KafkaConnectionError: socket disconnected", 0.0)]


def test_a_setting_kafka_python_refuses_is_a_configuration_problem_not_unreachable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source, _, _ = scripted_source(
        lambda s, m: [], monkeypatch, factory_error=KafkaConfigurationError("Unrecognized isolation_level")
    )
    assert source.problem is not None and source.problem.reason == "configuration"
    assert source.last_error is None and source.down_since is None  # not called an outage
    assert not source.connected  # no consumer: nothing to say about the broker


def test_the_process_reader_passes_the_problem_its_consumer_could_not_start_with(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    problem = classify(KafkaConfigurationError("Unrecognized isolation_level"), "g")
    exited = ReaderExitedError("reader process 1 exited", crashed=False, problem=problem)
    source, _, _ = scripted_source(lambda s, m: [exited], monkeypatch)
    assert source.problem == problem
    assert source.last_error is None


class Cluster:
    def __init__(self, known: set[str]) -> None:
        self.known = known

    def topics(self, exclude_internal_topics: bool = True) -> set[str]:
        return set(self.known)


class MetadataConsumer(ScriptedConsumer):
    """A consumer whose cluster metadata holds ``known`` topics (kafka-python's ``_client.cluster``)."""

    def __init__(self, known: set[str]) -> None:
        super().__init__(threading.Event(), [])
        self._client = type("Client", (), {"cluster": Cluster(known)})()

    def subscription(self) -> set[str]:
        return {"predictions", "labels"}


def test_a_topic_the_cluster_does_not_have_is_named_after_a_grace_and_over_once_it_is_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    metrics = Metrics()
    settings = KafkaSettings(
        bootstrap_servers=["127.0.0.1:9"], topic="predictions", labels_topic="labels", group_id="g"
    )
    source = KafkaSource(settings, lambda batch: None, metrics)
    consumer = MetadataConsumer({"predictions"})
    source._consumer = ThreadConsumer(consumer)
    source._consumer.subscribe(["predictions", "labels"])
    source._up()
    source._check_topics()
    assert source.problem is None  # the first metadata answer may predate the subscription
    monkeypatch.setattr(kafka_source, "_MISSING_GRACE", 0.0)
    source._check_topics()
    assert source.problem is not None and source.problem.reason == "unknown_topic"
    assert "'labels'" in source.problem.error and "create the topic" in source.problem.fix
    assert kafka_up(metrics) == 1.0 and source.connected  # the broker answers
    source._problem_over(records=True)  # predictions flow: the labels topic is still missing
    assert source.problem is not None
    consumer._client.cluster.known.add("labels")
    source._check_topics()
    assert source.problem is None


def test_the_reader_process_reports_the_topics_the_cluster_does_not_have() -> None:
    from driftwatch.source.reader import _Reader

    reader = _Reader(None, {}, 0)  # type: ignore[arg-type]
    reader._consumer = MetadataConsumer({"predictions"})
    assert reader._status().missing == ["labels"]


# the daemon's surfaces, without a broker ----------------------------------------------------------


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    clock = Clock()
    d = Daemon(load_settings(write_config(tmp_path)), clock=clock)
    d.sent: list[dict[str, Any]] = []  # type: ignore[misc]
    d._notify = lambda event, result: d.sent.append(  # type: ignore[method-assign]
        alert_event("k", event.transition, CheckId.parse(event.check), result, None, clock.now)
    )
    d.http.start()
    d.handle(shifted(clock, 200))
    d.source._up()  # the broker answers
    yield d
    d.http.stop()
    d.store.close()


def http(daemon: Daemon, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    host, port = daemon.http.address
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=timeout) as answer:
            return int(answer.status), answer.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return int(exc.code), exc.read()


def stalled(daemon: Daemon, batch: UndecodableBatch) -> None:
    """The source's own handling of a poll that failed on ``batch`` (no consumer here to pause it on)."""
    done = threading.Event()
    done.set()
    daemon.source._undecodable(batch, done)


SNAPPY = UndecodableBatch(
    "predictions", 0, 40, "unsupported_codec", "snappy", "UnsupportedCodecError: Libraries for snappy ..."
)


def test_a_check_says_which_partitions_are_stalled_behind_an_undecodable_batch(daemon: Daemon) -> None:
    before = time.time()
    stalled(daemon, SNAPPY)
    stalled(daemon, SNAPPY)  # retried: still since the first time
    result = daemon.run_check("m")
    (note,) = result.notes
    assert note.startswith("Kafka predictions[0] at offset 40 stalled since ")
    since = datetime.fromisoformat(note.split("stalled since ")[1].split(" ")[0].replace("Z", "+00:00"))
    assert before - 0.01 <= since.timestamp() <= time.time()
    assert "(unsupported_codec, codec snappy: UnsupportedCodecError" in note
    assert "this check ran without the records behind it" in note and "python-snappy" in note
    # every surface says the same: /api/models, the report, the webhook event; /readyz names the batch
    assert json.loads(http(daemon, "/api/models/m")[1])["latest"]["notes"] == [note]
    status, page = http(daemon, "/reports/m/latest.html", timeout=120)  # Evidently's first report: slow
    assert status == 200 and "stalled since" in page.decode() and "python-snappy" in page.decode()
    assert [event["result"]["notes"] for event in daemon.sent] == [[note]] * len(daemon.sent) and daemon.sent  # type: ignore[attr-defined]
    status, body = http(daemon, "/readyz")
    assert status == 503
    (problem,) = json.loads(body)["problems"]
    assert "undecodable record batch in predictions[0] at offset 40" in problem
    assert kafka_up(daemon.metrics) == 1.0
    # past the batch: the next check has nothing to say
    daemon.source._decoded(("predictions", 0), 41)
    assert daemon.run_check("m").notes == ()
    assert daemon.source.stalls() == []


def test_partitions_stalled_for_the_same_cause_share_one_note(daemon: Daemon) -> None:
    for partition in (2, 0):
        batch = UndecodableBatch("predictions", partition, 7, "corrupt", None, "CorruptRecordError: CRC")
        stalled(daemon, batch)
    (note,) = daemon.run_check("m").notes
    assert note.startswith("Kafka predictions[0] at offset 7, predictions[2] at offset 7 stalled since ")
    assert "(corrupt: CorruptRecordError: CRC)" in note and "skip it" in note


def test_a_check_during_a_consumer_problem_names_it_not_an_outage(daemon: Daemon) -> None:
    problem = classify(TopicAuthorizationFailedError({"predictions"}), "driftwatch")
    assert problem is not None
    daemon.source._problem(problem)
    (note,) = daemon.run_check("m").notes
    assert note.startswith("Kafka consumer error since ")
    assert "not_authorized: TopicAuthorizationFailedError" in note and "Read and Describe" in note
    assert "unreachable" not in note
    status, body = http(daemon, "/readyz")
    (text,) = json.loads(body)["problems"]
    assert (
        status == 503 and text.startswith("kafka: consumer error (not_authorized") and "reachable" not in text
    )
    assert kafka_up(daemon.metrics) == 1.0


def test_a_configuration_problem_before_any_connection_is_not_called_unreachable(daemon: Daemon) -> None:
    daemon.source._down("cannot connect to 127.0.0.1:9: KafkaTimeoutError")  # an earlier attempt
    problem = classify(KafkaConfigurationError("connections_max_idle_ms (5) must be larger than ..."))
    assert isinstance(problem, ConsumerProblem)
    daemon.source._problem(problem)
    (note,) = daemon.run_check("m").notes
    assert "configuration: KafkaConfigurationError" in note and "unreachable" not in note
    (text,) = json.loads(http(daemon, "/readyz")[1])["problems"]
    assert "configuration" in text and "reachable" not in text


# against the real broker --------------------------------------------------------------------------


# each reader of kafka-python, and librdkafka (kafka.client: confluent, which has no process reader);
# what each client names the error
CLIENTS = {
    "thread": ("thread", "kafka-python", "NoOffsetForPartitionError"),
    "process": ("process", "kafka-python", "NoOffsetForPartitionError"),
    "confluent": ("thread", "confluent", "_AUTO_OFFSET_RESET"),
}


@pytest.mark.slow
@pytest.mark.parametrize("reader", list(CLIENTS))
def test_a_group_without_offsets_and_auto_offset_reset_none_is_a_consumer_problem(
    broker: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reader: str
) -> None:
    from driftwatch.cli.demo import SECRET_ENV, write_demo_config
    from driftwatch.cli.localbroker import free_port
    from tests.kafkautil import get, metric, scrape, update_config, wait_for

    monkeypatch.setenv(SECRET_ENV, "problems-test")
    monkeypatch.setattr(kafka_source, "_PROBLEM_RETRY", 0.1)  # polls again every 0.1 s
    monkeypatch.setattr(kafka_source, "_PROBLEM_OVER", 0.3)  # a problem not seen again for 0.3 s is over
    topic = f"no-offset-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic, partitions=1)
    port = free_port()
    path = write_demo_config(tmp_path, broker.bootstrap, topic, port, "http://127.0.0.1:9/", every="1h")

    def change(raw: dict[str, Any]) -> None:
        raw["kafka"]["group_id"] = f"no-offset-{uuid.uuid4().hex[:8]}"  # a new group: nothing committed
        raw["kafka"]["reader"], raw["kafka"]["client"], _ = CLIENTS[reader]
        raw["kafka"].setdefault("options", {})["auto_offset_reset"] = "none"

    update_config(path, change)
    daemon = Daemon(load_settings(path))
    daemon.start()
    try:

        def readyz() -> list[str]:
            problems: list[str] = json.loads(get(port, "/readyz")[1])["problems"]
            return problems

        wait_for(lambda: daemon.source.problem is not None, 60, lambda: f"the consumer problem ({readyz()})")
        (problem,) = readyz()
        assert problem.startswith(f"kafka: consumer error (no_offset: {CLIENTS[reader][2]}"), problem
        assert "auto_offset_reset is none" in problem
        assert metric(scrape(port), "driftwatch_kafka_up") == 1.0  # the broker answers
        model = next(iter(daemon.checks))
        notes = daemon.run_check(model).notes
        assert len(notes) == 1 and notes[0].startswith("Kafka consumer error since "), notes
        assert "no_offset" in notes[0] and "unreachable" not in notes[0]
        # kafka-python's own cluster metadata: the subscribed topic is there, another one is not
        if reader == "thread":
            consumer = daemon.source._consumer.consumer  # kafka-python's, under the thread reader
            assert missing_topics(consumer, [topic]) == []
            assert missing_topics(consumer, [topic, "never-asked-for"]) == ["never-asked-for"]
        assert daemon.source._consumer.missing_topics() == []
        # polls go on failing, so the problem stays (librdkafka reports it once: the client says it again)
        time.sleep(3 * kafka_source._PROBLEM_OVER)
        assert daemon.source.problem is not None and daemon.source.problem.reason == "no_offset"
        assert readyz() == [problem]
    finally:
        daemon.stop()


@pytest.mark.slow
def test_a_labels_topic_librdkafka_cannot_find_is_named_and_over_once_it_is_created(
    broker: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With kafka.client: confluent the missing topic comes from librdkafka's partition error (it reports
    it once); it is over when its metadata shows the topic, even before a record arrives on it.
    Only librdkafka here: kafka-python's metadata requests ask the broker to create a topic it lacks, and
    this broker does (the scripted MetadataConsumer test above covers kafka-python's side)."""
    from driftwatch.cli.demo import SECRET_ENV, write_demo_config
    from driftwatch.cli.localbroker import free_port
    from tests.kafkautil import get, metric, scrape, update_config, wait_for

    monkeypatch.setenv(SECRET_ENV, "problems-test")
    monkeypatch.setattr(kafka_source, "_MISSING_GRACE", 1.0)
    topic = f"there-{uuid.uuid4().hex[:8]}"
    labels = f"labels-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic, partitions=1)
    port = free_port()
    path = write_demo_config(
        tmp_path, broker.bootstrap, topic, port, "http://127.0.0.1:9/", every="1h", labels_topic=labels
    )

    def change(raw: dict[str, Any]) -> None:
        raw["kafka"]["group_id"] = f"missing-{uuid.uuid4().hex[:8]}"
        raw["kafka"]["client"] = "confluent"

    update_config(path, change)
    daemon = Daemon(load_settings(path))
    daemon.start()
    try:

        def problems() -> list[str]:
            found: list[str] = json.loads(get(port, "/readyz")[1])["problems"]
            return found

        wait_for(
            lambda: daemon.source.problem is not None, 30, lambda: f"the missing topic named ({problems()})"
        )
        (problem,) = problems()
        assert problem.startswith("kafka: consumer error (unknown_topic: UnknownTopicOrPartitionError")
        assert repr(labels) in problem and topic not in problem and "create the topic" in problem
        assert metric(scrape(port), "driftwatch_kafka_up") == 1.0  # the broker answers
        broker.create_topic(labels, partitions=1)  # and nothing is written to it
        wait_for(lambda: daemon.source.problem is None, 30, lambda: f"the problem over ({problems()})")
        assert problems() == []
    finally:
        daemon.stop()


# settings kafka-python would refuse only once the daemon runs are refused when the config is loaded -----


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (
            {"auto_offset_reset": "bogus"},
            "kafka.options.auto_offset_reset 'bogus' is not one of earliest, latest, none",
        ),
        ({"isolation_level": "committed"}, "kafka.options.isolation_level 'committed' is not one of"),
        ({"request_timeout_ms": 100}, "fetch_max_wait_ms (200) < request_timeout_ms (100)"),
    ],
)
def test_kafka_options_kafka_python_refuses_are_config_errors(
    tmp_path: Path, options: dict[str, Any], said: str
) -> None:
    import yaml

    from driftwatch.config import ConfigError

    path = write_config(tmp_path)
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["kafka"]["options"] = options
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    assert said in str(raised.value)


def test_an_outage_during_a_consumer_problem_is_an_outage_on_every_surface(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[str | None, bool, str | None, float | None]] = []

    def script(source: KafkaSource, metrics: Metrics) -> list[Any]:
        def look() -> None:
            reason = source.problem.reason if source.problem is not None else None
            seen.append((reason, source.connected, source.last_error, kafka_up(metrics)))

        return [TopicAuthorizationFailedError({"predictions"}), look, KafkaConnectionError("refused"), look]

    scripted_source(script, monkeypatch)
    assert seen == [
        ("not_authorized", True, None, 1.0),
        (
            None,
            False,
            "poll failed: KafkaConnectionError: refused",
            0.0,
        ),  # not kafka_up 0 with "consumer error"
    ]


def test_a_reader_process_that_could_not_start_its_consumer_leaves_kafka_up_0(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    problem = classify(KafkaConfigurationError("Unrecognized isolation_level"), "g")
    seen: list[tuple[bool, float | None]] = []

    def script(source: KafkaSource, metrics: Metrics) -> list[Any]:
        source._up()  # it had been consuming
        exited = ReaderExitedError("reader process 1 exited", crashed=False, problem=problem)
        return [exited, lambda: seen.append((source.connected, kafka_up(metrics)))]

    source, _, _ = scripted_source(script, monkeypatch)
    assert seen == [(False, 0.0)]  # the next reader's first poll: no connection yet, and kafka_up says so
    assert source.problem == problem
