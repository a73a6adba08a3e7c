"""Administration of the test broker: topics, ACLs and SCRAM users over PLAINTEXT.

:class:`BrokerAdmin` is a collaborator of :class:`~hop.testing.broker.KafkaBroker`:
it owns the confluent-kafka AdminClient, connected as the super user (PLAINTEXT
clients are ``User:ANONYMOUS``), and is given how to reach the broker. Changes reach
the broker through the KRaft metadata log a moment after the controller acknowledges
them, so each operation also waits, with a deadline, until the change is visible.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from hop.testing._errors import BrokerError
from hop.testing._props import check_users

__all__ = ["BrokerAdmin"]

_ADMIN_TIMEOUT_S = 30.0
_POLL_S = 0.05

_TOPIC_OPERATIONS = ("READ", "WRITE", "DESCRIBE")
_GROUP_OPERATIONS = ("READ", "DESCRIBE")


class BrokerAdmin:
    """Topic, ACL and user management of one test broker.

    Parameters
    ----------
    config : callable
        ``config()`` returns the librdkafka settings of a super-user admin client;
        asked each time a client is made, so a broker that moved ports is followed.
    replication : int
        Replication factor of the topics it creates.
    """

    def __init__(self, config: Callable[[], dict[str, Any]], replication: int = 1) -> None:
        self._config = config
        self._replication = replication
        self._client: Any = None

    def reset(self) -> None:
        """Forget the admin client (the broker stopped); the next call makes a new one."""
        self._client = None

    def _admin_client(self) -> Any:
        if self._client is None:
            from confluent_kafka.admin import AdminClient

            self._client = AdminClient(self._config())
        return self._client

    def _result(self, future: Any, what: str, timeout: float = _ADMIN_TIMEOUT_S) -> Any:
        try:
            return future.result(timeout=timeout)
        except Exception as exc:
            raise BrokerError(f"test broker: {what} failed: {exc}") from exc

    def create_topic(
        self, name: str, partitions: int = 1, config: Mapping[str, str] | None = None
    ) -> None:
        """Create a topic and wait until every partition has a leader.

        Parameters
        ----------
        name : str
        partitions : int
        config : mapping, optional
            Topic configuration, e.g. ``{"max.message.bytes": "2097152"}``.
        """
        from confluent_kafka.admin import NewTopic

        topic = NewTopic(name, num_partitions=partitions, replication_factor=self._replication,
                         config=dict(config or {}))
        futures = self._admin_client().create_topics([topic], operation_timeout=_ADMIN_TIMEOUT_S)
        self._result(futures[name], f"creating topic {name!r}")
        self._wait_for(
            lambda: self._topic_ready(name, partitions), f"topic {name!r} to have leaders"
        )

    def delete_topic(self, name: str) -> None:
        """Delete a topic and wait until the broker no longer lists it."""
        futures = self._admin_client().delete_topics([name], operation_timeout=_ADMIN_TIMEOUT_S)
        self._result(futures[name], f"deleting topic {name!r}")
        self._wait_for(
            lambda: name not in self._admin_client().list_topics(timeout=5).topics,
            f"topic {name!r} to disappear",
        )

    def list_topics(self) -> set[str]:
        """Return the names of the topics that exist, internal ones included."""
        return set(self._admin_client().list_topics(timeout=10).topics)

    def _topic_ready(self, name: str, partitions: int) -> bool:
        topic = self._admin_client().list_topics(topic=name, timeout=5).topics.get(name)
        if topic is None or topic.error is not None or len(topic.partitions) != partitions:
            return False
        # Every replica in sync too: a test that kills a node right after creating a
        # replicated topic must find each partition fully replicated.
        return all(
            p.leader >= 0 and len(p.isrs) == len(p.replicas) for p in topic.partitions.values()
        )

    def in_sync(self, name: str) -> bool:
        """Whether every partition of ``name`` has a leader and all its replicas in sync."""
        topic = self._admin_client().list_topics(topic=name, timeout=5).topics.get(name)
        if topic is None or topic.error is not None or not topic.partitions:
            return False
        return all(
            p.leader >= 0 and len(p.isrs) == len(p.replicas) for p in topic.partitions.values()
        )

    def wait_in_sync(self, name: str, timeout: float = _ADMIN_TIMEOUT_S) -> None:
        """Wait until :meth:`in_sync` holds for topic ``name``."""
        self._wait_for(lambda: self.in_sync(name), f"every replica of {name!r} to be in sync",
                       timeout)

    def grant(
        self,
        user: str,
        topic: str | None = None,
        group: str | None = None,
        operations: Sequence[str] | None = None,
        *,
        prefixed: bool = False,
    ) -> None:
        """Allow ``user`` operations on a topic and/or consumer group, and wait until enforced.

        Parameters
        ----------
        user : str
            The SCRAM user name (the principal is ``User:<user>``).
        topic, group : str, optional
            The resources; at least one.
        operations : sequence of str, optional
            Kafka ACL operations such as ``"READ"``, ``"WRITE"``, ``"DESCRIBE"``,
            ``"ALL"``. Default: READ, WRITE and DESCRIBE on a topic; READ and
            DESCRIBE on a group.
        prefixed : bool
            Treat the names as prefixes rather than literal names.
        """
        bindings = self._bindings(user, topic, group, operations, prefixed)
        results = self._admin_client().create_acls(bindings, request_timeout=_ADMIN_TIMEOUT_S)
        for binding, future in results.items():
            self._result(future, f"granting {binding}")
        # ACLs reach the authorizer through the metadata log, a moment after the reply.
        self._wait_for(
            lambda: self._visible(bindings) == len(bindings), f"ACLs for {user!r} to apply"
        )

    def revoke(
        self,
        user: str,
        topic: str | None = None,
        group: str | None = None,
        operations: Sequence[str] | None = None,
        *,
        prefixed: bool = False,
    ) -> None:
        """Remove what :meth:`grant` with the same arguments gave, and wait until enforced."""
        bindings = self._bindings(user, topic, group, operations, prefixed)
        filters = [self._as_filter(b) for b in bindings]
        for flt, future in self._admin_client().delete_acls(
            filters, request_timeout=_ADMIN_TIMEOUT_S
        ).items():
            self._result(future, f"revoking {flt}")
        self._wait_for(lambda: self._visible(bindings) == 0, f"ACLs for {user!r} to go")

    def add_user(self, name: str, password: str) -> None:
        """Create (or change the password of) a SCRAM-SHA-512 user and wait until it exists."""
        from confluent_kafka.admin import (
            ScramCredentialInfo,
            ScramMechanism,
            UserScramCredentialUpsertion,
        )

        check_users({name: password})
        info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096)
        upsert = UserScramCredentialUpsertion(name, info, password.encode())
        futures = self._admin_client().alter_user_scram_credentials([upsert])
        self._result(futures[name], f"creating user {name!r}")

        def known() -> bool:
            future = self._admin_client().describe_user_scram_credentials([name])[name]
            try:
                return bool(future.result(timeout=5).scram_credential_infos)
            except Exception:
                return False

        self._wait_for(known, f"user {name!r} to exist")

    @staticmethod
    def _bindings(
        user: str,
        topic: str | None,
        group: str | None,
        operations: Sequence[str] | None,
        prefixed: bool,
    ) -> list[Any]:
        from confluent_kafka.admin import (
            AclBinding,
            AclOperation,
            AclPermissionType,
            ResourcePatternType,
            ResourceType,
        )

        if topic is None and group is None:
            raise ValueError("grant/revoke needs a topic, a group or both")
        pattern = ResourcePatternType.PREFIXED if prefixed else ResourcePatternType.LITERAL
        resources: list[tuple[Any, str, Iterable[str]]] = []
        if topic is not None:
            resources.append((ResourceType.TOPIC, topic, operations or _TOPIC_OPERATIONS))
        if group is not None:
            resources.append((ResourceType.GROUP, group, operations or _GROUP_OPERATIONS))
        bindings = []
        for rtype, name, ops in resources:
            for op in ops:
                try:
                    operation = AclOperation[op.upper()]
                except KeyError as exc:
                    raise ValueError(f"unknown ACL operation {op!r}") from exc
                bindings.append(AclBinding(rtype, name, pattern, f"User:{user}", "*",
                                           operation, AclPermissionType.ALLOW))
        return bindings

    @staticmethod
    def _as_filter(binding: Any) -> Any:
        from confluent_kafka.admin import AclBindingFilter

        return AclBindingFilter(binding.restype, binding.name, binding.resource_pattern_type,
                                binding.principal, binding.host, binding.operation,
                                binding.permission_type)

    def _visible(self, bindings: Sequence[Any]) -> int:
        count = 0
        for binding in bindings:
            future = self._admin_client().describe_acls(
                self._as_filter(binding), request_timeout=10
            )
            if self._result(future, "describing ACLs"):
                count += 1
        return count

    def _wait_for(
        self, condition: Callable[[], bool], what: str, timeout: float = _ADMIN_TIMEOUT_S
    ) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise BrokerError(
                    f"test broker: timed out after {timeout:.0f} s waiting for {what}"
                )
            # A bounded poll: the broker offers no notification for metadata changes.
            time.sleep(_POLL_S)
