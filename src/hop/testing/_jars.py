"""The Apache Kafka jars, fetched once from Maven Central and cached.

The broker runs from ``kafka_2.13`` and its runtime dependencies plus a log4j2
backend (Kafka's POMs declare none, so without it the broker logs nothing). Maven
resolves them with ``dependency:copy-dependencies`` into a staging folder that is
renamed into place only after a successful copy; a marker file written after the
rename tells later runs the cache is complete, so an interrupted download is redone.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from hop.testing._errors import JarDownloadError

KAFKA_VERSION = "4.3.1"
LOG4J_VERSION = "2.25.4"

_MVN_TIMEOUT_S = 900.0
_MARKER = ".complete"

# kafka_2.13 comes first: Maven's nearest-wins mediation then keeps Kafka's own
# versions of shared dependencies.
_POM = f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>skyhop.testing</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>{KAFKA_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-api</artifactId>
      <version>{LOG4J_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>{LOG4J_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>{LOG4J_VERSION}</version>
    </dependency>
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-dependency-plugin</artifactId>
        <version>3.6.1</version>
      </plugin>
    </plugins>
  </build>
</project>
"""



def kafka_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Return the cache folder for this Kafka version's jars.

    Parameters
    ----------
    environ : mapping, optional
        Where to read ``XDG_CACHE_HOME``; defaults to ``os.environ``.
    """
    env = os.environ if environ is None else environ
    cache = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "skyhop" / f"kafka-{KAFKA_VERSION}"


def ensure_kafka_jars(
    cache_dir: Path | None = None, *, timeout: float = _MVN_TIMEOUT_S
) -> Path:
    """Make sure the Kafka jars are cached and return the folder holding them.

    Parameters
    ----------
    cache_dir : pathlib.Path, optional
        Defaults to :func:`kafka_cache_dir`.
    timeout : float
        Upper bound in seconds for the Maven download.

    Returns
    -------
    pathlib.Path
        The ``libs`` folder; use ``<libs>/*`` as the Java class path.

    Raises
    ------
    JarDownloadError
        When ``mvn`` is missing, fails (the tail of its output is in the message)
        or takes longer than ``timeout``.
    """
    cache = kafka_cache_dir() if cache_dir is None else cache_dir
    libs = cache / "libs"
    if (cache / _MARKER).exists():
        return libs
    cache.mkdir(parents=True, exist_ok=True)
    # Parallel test sessions share the cache; only one of them downloads.
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (cache / _MARKER).exists():
            _download(cache, libs, timeout)
    return libs


def _download(cache: Path, libs: Path, timeout: float) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise JarDownloadError(
            "cannot fetch the Kafka jars: 'mvn' (Apache Maven) is not on PATH"
        )
    pom = cache / "pom.xml"
    pom.write_text(_POM)
    staging = cache / "libs.partial"
    shutil.rmtree(staging, ignore_errors=True)
    cmd = [
        mvn, "-B", "-q", "-f", str(pom), "dependency:copy-dependencies",
        f"-DoutputDirectory={staging}", "-DincludeScope=runtime",
    ]
    started = time.monotonic()
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise JarDownloadError(
            f"fetching the Kafka jars with Maven took longer than {timeout:.0f} s"
        ) from exc
    if proc.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
        raise JarDownloadError(
            f"fetching the Kafka jars failed (mvn exit {proc.returncode}, pom {pom}):\n{tail}"
        )
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    elapsed = time.monotonic() - started
    (cache / _MARKER).write_text(f"downloaded in {elapsed:.1f} s\n")
