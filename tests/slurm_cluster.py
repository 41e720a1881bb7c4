"""A real single-node Slurm on localhost, brought up from nothing in one directory.

Used by ``tests/test_slurm.py`` to run the workflow with ``--profile slurm`` against
real daemons (Debian's packages: munge, MariaDB, slurmdbd, slurmctld, slurmd), so that
``sbatch``, ``squeue`` and ``sacct`` behave as on a cluster. Everything lives under
one root directory (configuration, state, sockets, logs, the database); nothing in
/etc is read or written, and free TCP ports are picked so that it never collides with
another Slurm on the machine. The client commands find this cluster through the
``SLURM_CONF`` variable of :meth:`SlurmCluster.env`.

Every daemon runs in the foreground as a child process, so it is known by its PID and
stopped by that PID (:meth:`SlurmCluster.stop`), also when start-up fails half way.
Jobs still in the queue are cancelled first, so no ``slurmstepd`` outlives the test.

Needs root (the daemons run as root here, which keeps file ownership simple) and the
binaries (``.ci/install_slurm.sh`` installs them); :func:`missing_requirements` says
which are missing so that callers can skip with that reason.

Manual use::

    python tests/slurm_cluster.py up [DIR]   # prints the export line for SLURM_CONF
    python tests/slurm_cluster.py down DIR   # stops the daemons started by `up`
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: The daemons and clients the cluster needs, all from Debian's packages.
REQUIRED_BINARIES = (
    "munged", "munge", "unmunge", "mariadb-install-db", "mariadbd", "mariadb",
    "slurmdbd", "slurmctld", "slurmd", "sbatch", "srun", "squeue", "sacct", "sacctmgr",
    "sinfo", "scancel", "scontrol",
)
PARTITION = "debug"
# A second partition on the same node and an account, to check that the profile
# passes a partition and an account chosen by the user.
ALT_PARTITION = "alt"
ACCOUNT = "distral"
CLUSTER_NAME = "distraltest"
# Written by `up` beside the configuration, read by `down` (manual use only).
PID_FILE_NAME = "daemons.json"


class SlurmClusterError(RuntimeError):
    """A daemon did not come up; the message carries the tail of its log."""


def missing_requirements() -> str | None:
    """Why a local cluster cannot be started here, or None if it can."""
    if sys.platform != "linux":
        return f"a local Slurm needs Linux (this is {sys.platform})"
    if os.geteuid() != 0:
        return "starting Slurm daemons needs root (run .ci/run as root to get them)"
    missing = [name for name in REQUIRED_BINARIES if _which(name) is None]
    if missing:
        return ("Slurm/munge/MariaDB binaries missing: " + ", ".join(missing)
                + " (install them with `bash .ci/install_slurm.sh` as root)")
    return None


def _which(name: str) -> str | None:
    # Daemons live in /usr/sbin, which a non-login PATH may lack.
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _total_memory_mib() -> int:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    raise SlurmClusterError("MemTotal not found in /proc/meminfo")


class SlurmCluster:
    """One controller, one compute node (this host), accounting through slurmdbd.

    ``root`` must be an empty or absent directory; every file goes below it.
    Use as a context manager, or call :meth:`start` and (always) :meth:`stop`.
    """

    def __init__(self, root: Path, cpus: int | None = None, memory_mib: int | None = None):
        self.root = Path(root).resolve()
        self.node = socket.gethostname().split(".")[0]
        self.cpus = cpus or os.cpu_count() or 1
        # Conservative: half the machine, so that Slurm never promises memory others use.
        self.memory_mib = memory_mib or max(1024, _total_memory_mib() // 2)
        self.ports = {name: _free_port() for name in ("mariadb", "slurmdbd", "slurmctld", "slurmd")}
        self.daemons: dict[str, subprocess.Popen] = {}
        self.pids: dict[str, int] = {}
        self.setup_seconds: float | None = None

    # -- paths ---------------------------------------------------------------------
    @property
    def slurm_conf(self) -> Path:
        return self.root / "etc" / "slurm.conf"

    @property
    def munge_socket(self) -> Path:
        return self.root / "run" / "munge.socket"

    @property
    def mariadb_socket(self) -> Path:
        return self.root / "run" / "mariadb.sock"

    def log(self, daemon: str) -> Path:
        return self.root / "log" / f"{daemon}.log"

    def env(self, base: dict | None = None) -> dict:
        """Environment in which sbatch/squeue/sacct talk to this cluster.

        Slurm variables of an enclosing job are dropped: a client inside a job would
        otherwise inherit that job's settings (SLURM_JOB_ID etc.).
        """
        env = {k: v for k, v in (os.environ if base is None else base).items()
               if not k.startswith(("SLURM_", "SBATCH_", "SALLOC_", "SRUN_"))}
        env["SLURM_CONF"] = str(self.slurm_conf)
        path = env.get("PATH", "")
        if "/usr/sbin" not in path.split(":"):
            path += ":/usr/sbin:/sbin"
        env["PATH"] = f"{self.root / 'bin'}:{path}"
        return env

    # -- lifecycle -----------------------------------------------------------------
    def __enter__(self) -> "SlurmCluster":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout: float = 300.0) -> None:
        """Write the configuration and start every daemon; return once the node is idle.

        On any failure the daemons already started are stopped before raising.
        """
        began = time.monotonic()
        try:
            self._write_files()
            self._start_munge(timeout)
            self._start_mariadb(timeout)
            self._start_slurmdbd(timeout)
            self._start_slurmctld_and_slurmd(timeout)
        except BaseException:
            self.stop()
            raise
        self.setup_seconds = time.monotonic() - began

    def stop(self, timeout: float = 30.0) -> None:
        """Cancel leftover jobs, then stop each daemon this object started, by PID."""
        if "slurmctld" in self.daemons and self.daemons["slurmctld"].poll() is None:
            self._cancel_all_jobs(timeout=min(timeout, 20.0))
        # Reverse start order: compute node and controller first, the database last.
        for name in reversed(list(self.daemons)):
            _stop_process(self.daemons[name], timeout)
        self.daemons.clear()

    # -- pieces --------------------------------------------------------------------
    def _write_files(self) -> None:
        for sub in ("etc", "run", "log", "state", "spool", "mariadb"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        # munged refuses directories that others may write to.
        for path in (self.root, *self.root.iterdir()):
            path.chmod(0o700)
        key = self.root / "etc" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        (self.root / "etc" / "plugstack.conf").write_text("")
        self._write_client_shims()
        auth = f"AuthType=auth/munge\nAuthInfo=socket={self.munge_socket}\n"
        self.slurm_conf.write_text(
            f"ClusterName={CLUSTER_NAME}\n"
            f"SlurmctldHost={self.node}(127.0.0.1)\n"
            f"SlurmctldPort={self.ports['slurmctld']}\n"
            f"SlurmdPort={self.ports['slurmd']}\n"
            "SlurmUser=root\nSlurmdUser=root\n"
            + auth +
            f"StateSaveLocation={self.root / 'state'}\n"
            f"SlurmdSpoolDir={self.root / 'spool'}\n"
            f"SlurmctldPidFile={self.root / 'run' / 'slurmctld.pid'}\n"
            f"SlurmdPidFile={self.root / 'run' / 'slurmd.pid'}\n"
            f"SlurmctldLogFile={self.log('slurmctld')}\n"
            f"SlurmdLogFile={self.log('slurmd')}\n"
            f"PlugStackConfig={self.root / 'etc' / 'plugstack.conf'}\n"
            # No cgroups and no systemd in containers: track processes by parentage.
            "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\n"
            "SelectType=select/cons_tres\nSelectTypeParameters=CR_Core_Memory\n"
            "JobAcctGatherType=jobacct_gather/none\n"
            "AccountingStorageType=accounting_storage/slurmdbd\n"
            "AccountingStorageHost=127.0.0.1\n"
            f"AccountingStoragePort={self.ports['slurmdbd']}\n"
            # For slurmdbd this field names the munge socket, not a password.
            f"AccountingStoragePass={self.munge_socket}\n"
            # sacct then shows the rule and wildcards the plugin puts in --comment.
            "AccountingStoreFlags=job_comment\n"
            "MpiDefault=none\nMailProg=/bin/true\nReturnToService=2\nSchedulerType=sched/backfill\n"
            # Finished jobs stay visible to squeue for 5 minutes, as on most clusters.
            "MinJobAge=300\n"
            "SlurmctldTimeout=30\nSlurmdTimeout=30\nInactiveLimit=0\nKillWait=5\n"
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} "
            f"RealMemory={self.memory_mib} State=UNKNOWN\n"
            f"PartitionName={PARTITION} Nodes={self.node} Default=YES "
            "MaxTime=INFINITE State=UP\n"
            f"PartitionName={ALT_PARTITION} Nodes={self.node} MaxTime=INFINITE State=UP\n"
        )
        dbd_conf = self.root / "etc" / "slurmdbd.conf"
        dbd_conf.write_text(
            auth
            + "DbdHost=localhost\nDbdAddr=127.0.0.1\n"
            f"DbdPort={self.ports['slurmdbd']}\n"
            "SlurmUser=root\n"
            f"LogFile={self.log('slurmdbd')}\n"
            f"PidFile={self.root / 'run' / 'slurmdbd.pid'}\n"
            "StorageType=accounting_storage/mysql\n"
            f"StorageHost=127.0.0.1\nStoragePort={self.ports['mariadb']}\n"
            "StorageUser=slurm\nStoragePass=slurm\nStorageLoc=slurm_acct_db\n"
        )
        # slurmdbd insists that its config is private to SlurmUser.
        dbd_conf.chmod(0o600)

    def _write_client_shims(self) -> None:
        """Put this cluster's configuration into Slurm clients run inside jobs.

        On a real cluster every node finds slurm.conf at its standard place (or gets it
        from the controller, "configless"). Here it lives in a temporary directory, and
        the Slurm jobstep executor strips SLURM_* variables, SLURM_CONF included, before
        its nested `srun`. A wrapper first on PATH (PATH survives) sets it back, so that
        nothing outside this directory has to be written.
        """
        bin_dir = self.root / "bin"
        bin_dir.mkdir(exist_ok=True)
        for client in ("srun", "sbatch", "squeue", "sacct", "sacctmgr", "scancel", "scontrol",
                       "sinfo", "sshare"):
            real = _which(client)
            if real is None:
                continue
            shim = bin_dir / client
            shim.write_text(f'#!/bin/sh\nSLURM_CONF="{self.slurm_conf}" exec {real} "$@"\n')
            shim.chmod(0o755)

    def _spawn(self, name: str, argv: list[str], env: dict | None = None) -> subprocess.Popen:
        # A new session keeps a Ctrl-C aimed at pytest from reaching the daemons
        # half-way; stop() ends them in order instead.
        with open(self.log(f"{name}.stdout"), "ab") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=env or self.env(),
                                    start_new_session=True)
        self.daemons[name] = proc
        self.pids[name] = proc.pid
        return proc

    def _wait(self, name: str, ready, timeout: float) -> None:
        proc = self.daemons[name]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            if proc.poll() is not None:
                raise SlurmClusterError(
                    f"{name} exited with code {proc.returncode} during start-up\n"
                    + self._log_tail(name))
            time.sleep(0.2)
        raise SlurmClusterError(f"{name} not ready after {timeout:.0f} s\n" + self._log_tail(name))

    def _log_tail(self, name: str, lines: int = 25) -> str:
        text = []
        for path in (self.log(name), self.log(f"{name}.stdout")):
            if path.exists():
                text += path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(text)

    def _run(self, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(argv, env=self.env(), capture_output=True, text=True,
                              timeout=120, **kwargs)

    def _start_munge(self, timeout: float) -> None:
        run = self.root / "run"
        self._spawn("munged", [
            _which("munged"), "--foreground", "--force", f"--socket={self.munge_socket}",
            f"--key-file={self.root / 'etc' / 'munge.key'}",
            f"--pid-file={run / 'munged.pid'}", f"--log-file={self.log('munged')}",
            f"--seed-file={run / 'munged.seed'}",
        ])

        def credential_round_trips() -> bool:
            if not self.munge_socket.exists():
                return False
            cred = self._run(["munge", "-n", "-S", str(self.munge_socket)])
            return cred.returncode == 0 and self._run(
                ["unmunge", "-S", str(self.munge_socket)], input=cred.stdout).returncode == 0

        self._wait("munged", credential_round_trips, timeout)

    def _start_mariadb(self, timeout: float) -> None:
        data = self.root / "mariadb"
        # Small InnoDB files and buffers: this database holds a few dozen rows.
        small = ["--innodb-buffer-pool-size=16M", "--innodb-log-file-size=8M"]
        init = subprocess.run(
            [_which("mariadb-install-db"), "--no-defaults", f"--datadir={data}", "--user=root",
             "--auth-root-authentication-method=normal", "--skip-test-db",
             "--skip-name-resolve", *small],
            capture_output=True, text=True, timeout=600)
        if init.returncode != 0:
            raise SlurmClusterError("mariadb-install-db failed:\n" + init.stdout[-2000:]
                                    + init.stderr[-2000:])
        self._spawn("mariadbd", [
            _which("mariadbd"), "--no-defaults", f"--datadir={data}", "--user=root",
            f"--socket={self.mariadb_socket}", f"--port={self.ports['mariadb']}",
            "--bind-address=127.0.0.1", "--skip-name-resolve",
            f"--pid-file={self.root / 'run' / 'mariadbd.pid'}",
            f"--log-error={self.log('mariadbd')}", *small,
        ])
        sql = ["mariadb", "--no-defaults", "-S", str(self.mariadb_socket), "-u", "root"]
        self._wait("mariadbd", lambda: self._run([*sql, "-e", "SELECT 1"]).returncode == 0,
                   timeout)
        grant = self._run([*sql, "-e",
                           "CREATE DATABASE slurm_acct_db; "
                           "CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm'; "
                           "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"])
        if grant.returncode != 0:
            raise SlurmClusterError("creating the accounting database failed: " + grant.stderr)

    def _start_slurmdbd(self, timeout: float) -> None:
        # slurmdbd reads slurmdbd.conf from the directory of SLURM_CONF.
        self._spawn("slurmdbd", [_which("slurmdbd"), "-D"])
        self._wait("slurmdbd", lambda: _port_open(self.ports["slurmdbd"]), timeout)

    def _start_slurmctld_and_slurmd(self, timeout: float) -> None:
        # -i: ignore any saved state (there is none: a fresh directory).
        self._spawn("slurmctld", [_which("slurmctld"), "-D", "-i", "-f", str(self.slurm_conf)])
        self._wait("slurmctld",
                   lambda: self._run(["scontrol", "ping"]).stdout.find("UP") >= 0, timeout)
        self._spawn("slurmd", [_which("slurmd"), "-D", "-N", self.node, "-f", str(self.slurm_conf)])

        def node_idle() -> bool:
            state = self._run(["sinfo", "-h", "-n", self.node, "-o", "%T"]).stdout.strip()
            return state == "idle"

        self._wait("slurmd", node_idle, timeout)
        for command in (["add", "account", ACCOUNT, f"Cluster={CLUSTER_NAME}"],
                        ["add", "user", "root", f"Account={ACCOUNT}", f"Cluster={CLUSTER_NAME}"]):
            added = self._run(["sacctmgr", "-i", *command])
            if added.returncode != 0:
                raise SlurmClusterError(f"sacctmgr {' '.join(command)} failed: {added.stderr}")

    def _cancel_all_jobs(self, timeout: float) -> None:
        """Cancel every job still queued or running, and wait until they are gone.

        Their slurmstepd processes would otherwise outlive slurmd. Only this cluster's
        jobs are seen: SLURM_CONF points the clients at it.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            active = self._run(["squeue", "-h", "-t", "all", "-o", "%A %T"]).stdout.split()
            ids = [job for job, state in zip(active[::2], active[1::2])
                   if state in ("PENDING", "RUNNING", "COMPLETING", "CONFIGURING",
                                "SUSPENDED", "REQUEUED", "RESIZING")]
            if not ids:
                return
            self._run(["scancel", "--full", *ids])
            time.sleep(0.5)

    # -- queries used by tests -----------------------------------------------------
    def sacct(self, *fields: str, extra: tuple[str, ...] = ()) -> list[dict]:
        """Rows of ``sacct`` over every job of this cluster (allocations only, -X)."""
        out = self._run(["sacct", "-X", "-a", "-n", "-P", "-S", "now-1days",
                         "-o", ",".join(fields), *extra])
        if out.returncode != 0:
            raise SlurmClusterError("sacct failed: " + out.stderr)
        return [dict(zip(fields, line.split("|"))) for line in out.stdout.splitlines() if line]


def _stop_process(proc: subprocess.Popen, timeout: float) -> None:
    """SIGTERM one daemon by its PID, SIGKILL it if it does not exit in time."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


def _cli(argv: list[str]) -> int:
    usage = "usage: python tests/slurm_cluster.py up [DIR] | down DIR"
    if not argv or argv[0] not in ("up", "down") or (argv[0] == "down" and len(argv) != 2):
        print(usage, file=sys.stderr)
        return 2
    if argv[0] == "up":
        reason = missing_requirements()
        if reason:
            print(f"cannot start Slurm: {reason}", file=sys.stderr)
            return 1
        root = Path(argv[1]) if len(argv) > 1 else Path(tempfile.mkdtemp(prefix="slurm-"))
        cluster = SlurmCluster(root)
        cluster.start()
        # The daemons must outlive this process: detach from the Popen objects.
        (root / PID_FILE_NAME).write_text(json.dumps(cluster.pids))
        cluster.daemons.clear()
        print(f"Slurm up in {cluster.setup_seconds:.1f} s (daemon PIDs in {root / PID_FILE_NAME})")
        print(f"export SLURM_CONF={cluster.slurm_conf} PATH={root / 'bin'}:$PATH")
        print(f"stop with: python {sys.argv[0]} down {root}")
        return 0
    root = Path(argv[1]).resolve()
    pids = json.loads((root / PID_FILE_NAME).read_text())
    cluster = SlurmCluster.__new__(SlurmCluster)
    cluster.root = root
    cluster._cancel_all_jobs(timeout=20.0)
    for name, pid in reversed(list(pids.items())):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if name.encode() not in command:
            # The PID was reused by some other process: not ours to stop.
            continue
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
        print(f"stopped {name} (PID {pid})")
    (root / PID_FILE_NAME).unlink()
    return 0


if __name__ == "__main__":
    sys.exit(_cli(sys.argv[1:]))
