/* lxc-execinit: the init of lxc-execute. PID 1 of the container for its whole life: it runs
 * the command, passes signals on, reaps orphans and ends with the command's status.
 *
 * Why C: the init is visible inside the container from the container's first process to its
 * last. Were it the host's python3 (as lxctools' Python init was), a privileged container's
 * root would find the host's interpreter at /proc/1/exe and the host's libraries (libpython,
 * libc, ld.so) in /proc/1/map_files, open them for writing and replace them, or trace PID 1
 * and run code in a process of the host (the CVE-2019-5736 class; lxc-attach's lxc-entry is
 * the same answer). This program is static (no library mapped), exec'd by lxctools from a
 * sealed memfd copy (its exe is nobody's file and cannot be written), non-dumpable from its
 * first instruction, and holds nothing but its stdio.
 *
 * lxctools (lxctools/spawn/payload.py exec_init) has done everything before the exec: the
 * container is set up, start hooks have run, and the container's confinement is applied
 * (capability bounding set, no_new_privs, seccomp) to this process, so the init runs as
 * confined as the command. What is left for here, handed over on fd 4 (a pipe, read once)
 * as NUL-terminated fields (spawn/entry.py init_plan describes them):
 *     the marker "lxctools-init-plan-1", lxc.init.uid, lxc.init.gid ("-": unset), the
 *     command's program (looked up in the container's PATH by lxctools)
 * argv is "init" and the command's argv; the environment is the command's.
 * fd 3 is the start's sync socket (SOCK_SEQPACKET): the command's process keeps it until its
 * exec (close-on-exec), so its end of file tells the supervisor that the command runs, and
 * an exec or user switch that fails is reported there, as {"error": ..., "hint": ...}.
 *
 * LXC's lxc-init (src/lxc/cmd/lxc_init.c) does the same job; where ours behaves the same:
 * every catchable signal is passed on to the command (not the faults of the init itself),
 * the command gets a session of its own with stdin as its controlling terminal when it can,
 * a command killed by signal N ends the init with 128+N. Where ours differs (as lxctools'
 * init always did): when the command ends, what it left behind is killed (PID 1 only: kill
 * -1 from a process that is not its namespace's init would reach processes outside the
 * container), and stdio is not moved to /dev/console.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* marker lxctools looks for before running a helper built from other sources; the plan on
 * fd 4 starts with it too */
#define INIT_MARKER "lxctools-init-plan-1"
const char plan_marker[] __attribute__((used)) = INIT_MARKER;

#define SYNC_FD 3
#define PLAN_FD 4

/* ---- reporting to the supervisor ------------------------------------------------------ */

/* TEXT as a JSON string: every byte that is not printable ASCII as \u00XX (a path need not
 * be UTF-8, and the supervisor decodes strictly) */
static size_t json_string(char *out, size_t room, const char *text)
{
	size_t n = 0;
	if (room < 3)
		return 0;
	out[n++] = '"';
	for (const unsigned char *p = (const unsigned char *)text; *p && n + 8 < room; p++) {
		if (*p == '"' || *p == '\\') {
			out[n++] = '\\';
			out[n++] = *p;
		} else if (*p < 0x20 || *p >= 0x7f) {
			n += snprintf(out + n, room - n, "\\u%04x", *p);
		} else {
			out[n++] = *p;
		}
	}
	out[n++] = '"';
	return n;
}

/* one {"error", "hint"} message on the sync socket (payload.py's _fail form) */
static void report(const char *hint, const char *fmt, ...)
{
	char text[1024], msg[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	size_t n = snprintf(msg, sizeof(msg), "{\"error\": ");
	n += json_string(msg + n, sizeof(msg) - n - 64, text);
	n += snprintf(msg + n, sizeof(msg) - n, ", \"hint\": ");
	if (hint)
		n += json_string(msg + n, sizeof(msg) - n - 2, hint);
	else
		n += snprintf(msg + n, sizeof(msg) - n, "null");
	n += snprintf(msg + n, sizeof(msg) - n, "}");
	send(SYNC_FD, msg, n, MSG_NOSIGNAL);
}

/* ---- the plan ------------------------------------------------------------------------- */

struct plan {
	int has_uid, has_gid;
	uid_t uid;
	gid_t gid;
	char *program;
};

static int number(const char *text, int *set, unsigned int *value)
{
	char *end;
	if (!strcmp(text, "-")) {
		*set = 0;
		return 0;
	}
	errno = 0;
	unsigned long got = strtoul(text, &end, 10);
	if (errno || !*text || *end || got > 0xfffffffful)
		return -1;
	*set = 1;
	*value = got;
	return 0;
}

static int read_plan(struct plan *plan)
{
	static char data[16384];
	size_t have = 0;
	ssize_t got;
	while (have < sizeof(data) - 1 &&
	       ((got = read(PLAN_FD, data + have, sizeof(data) - 1 - have)) > 0 ||
		(got < 0 && errno == EINTR)))
		if (got > 0)
			have += got;
	close(PLAN_FD);
	data[have] = 0;
	char *field[4];
	size_t off = 0;
	for (int i = 0; i < 4; i++) {
		if (off >= have)
			return -1;
		field[i] = data + off;
		off += strlen(field[i]) + 1;
	}
	if (strcmp(field[0], INIT_MARKER) || !field[3][0])
		return -1;
	unsigned int uid, gid;
	if (number(field[1], &plan->has_uid, &uid) || number(field[2], &plan->has_gid, &gid))
		return -1;
	plan->uid = uid;
	plan->gid = gid;
	plan->program = field[3];
	return 0;
}

/* ---- signals ------------------------------------------------------------------------ */

/* What is passed on to the command: every signal but those the kernel raises for a fault of
 * the init itself (its own default action is right for them), SIGCHLD (ours), SIGKILL and
 * SIGSTOP (cannot be caught), and the two glibc keeps for itself. */
static int forwarded(int sig)
{
	switch (sig) {
	case SIGKILL: case SIGSTOP: case SIGCHLD:
	case SIGILL: case SIGSEGV: case SIGBUS: case SIGFPE: case SIGTRAP: case SIGSYS:
		return 0;
	}
	return sig < 32 || (sig >= SIGRTMIN && sig <= SIGRTMAX);
}

/* the command, by pidfd where the kernel has them (a pid can be reused once reaped; a pidfd
 * names that one process), else by pid; no longer once it is reaped */
static volatile sig_atomic_t child_pidfd = -1, child_pid, command_done;

/* Passed on from the handler itself: a flag read by the main loop would wait for the next
 * child to change state (LXC's lxc-init has that delay). */
static void forward(int sig)
{
	int saved = errno;
	if (!command_done) {
		if (child_pidfd >= 0)
			syscall(SYS_pidfd_send_signal, child_pidfd, sig, NULL, 0);
		else if (child_pid > 0)
			kill(child_pid, sig);
	}
	errno = saved;
}

/* ---- the command ---------------------------------------------------------------------- */

__attribute__((noreturn))
static void run(struct plan *plan, char **argv, char **envp)
{
	sigset_t none;
	sigemptyset(&none);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* the sync socket goes at the exec: its end of file says the command runs */
	if (fcntl(SYNC_FD, F_SETFD, FD_CLOEXEC)) {
		report(NULL, "init: %s", strerror(errno));
		_exit(1);
	}
	/* as LXC's lxc-init: a session of its own, stdin its terminal when it can be (a console;
	 * never a terminal that already controls another session, the caller's) */
	setsid();
	(void)ioctl(0, TIOCSCTTY, 0);
	if (plan->has_gid) {
		if (setgroups(0, NULL)) {
			report("lxc.init.gid", "cannot drop supplementary groups: %s", strerror(errno));
			_exit(1);
		}
		if (setresgid(plan->gid, plan->gid, plan->gid)) {
			report("lxc.init.gid", "cannot switch to gid %u: %s", plan->gid, strerror(errno));
			_exit(1);
		}
	}
	if (plan->has_uid && setresuid(plan->uid, plan->uid, plan->uid)) {
		report("lxc.init.uid", "cannot switch to uid %u: %s", plan->uid, strerror(errno));
		_exit(1);
	}
	execve(plan->program, argv, envp);
	report(NULL, "%s: %s", strerror(errno), plan->program);
	_exit(1);
}

static int status_code(int status)
{
	return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

int main(int argc, char **argv, char **envp)
{
	struct plan plan = { 0 };
	sigset_t all, none;

	/* nobody may read our memory or fds through /proc, nor trace us, without
	 * CAP_SYS_PTRACE: set before anything else happens */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	prctl(PR_SET_NAME, "init", 0, 0, 0);
	/* signals wait until the command exists and its pidfd is known */
	sigfillset(&all);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &all, NULL);
	/* A handler on each signal passed on: PID 1 of a pid namespace never receives a signal
	 * it leaves at its default (except SIGKILL/SIGSTOP from an ancestor namespace). The
	 * rest at their defaults (lxctools reset them before the exec; this is the belt). */
	struct sigaction act = { .sa_handler = forward };
	sigfillset(&act.sa_mask);  /* one at a time */
	for (int sig = 1; sig < NSIG; sig++) {
		if (forwarded(sig))
			sigaction(sig, &act, NULL);
		else if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	}

	int type = 0;
	socklen_t len = sizeof(type);
	if (argc < 2 || getsockopt(SYNC_FD, SOL_SOCKET, SO_TYPE, &type, &len) ||
	    type != SOCK_SEQPACKET) {
		dprintf(2, "lxc-execinit is run by lxctools only\n");
		return 1;
	}
	if (read_plan(&plan)) {
		report("reinstall lxctools (pip install .) so that both halves match",
		       "the init helper did not understand its plan");
		return 1;
	}
	/* nothing of the host past stdio and the sync socket: lxctools closed everything else
	 * already; this is the belt */
#ifdef SYS_close_range
	syscall(SYS_close_range, SYNC_FD + 1, ~0u, 0);
#endif

	pid_t child = fork();
	if (child < 0) {
		report(NULL, "init: fork: %s", strerror(errno));
		return 1;
	}
	if (child == 0)
		run(&plan, argv + 1, envp);
	close(SYNC_FD);
	child_pid = child;
	child_pidfd = syscall(SYS_pidfd_open, child, 0);
	sigprocmask(SIG_SETMASK, &none, NULL);

	/* Only the namespace's init may kill everything left (kill -1): anywhere else (the pid
	 * namespace kept or shared) kill -1 reaches every process the caller may signal outside
	 * the container, and the supervisor kills what is left in the container's cgroup. */
	int is_init = getpid() == 1;
	int status = 0;
	/* A blocking wait for any child: orphans are ours as the namespace's init. No SIGCHLD
	 * bookkeeping: a wait never misses a child that is already a zombie. */
	for (;;) {
		int raw;
		pid_t pid = waitpid(-1, &raw, 0);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			/* ECHILD: everyone reaped */
			_exit(command_done ? status_code(status) : 1);
		}
		if (pid == child && !command_done) {
			command_done = 1;
			status = raw;
			if (!is_init)
				_exit(status_code(status));
			/* the command is done: everything else it left behind goes too */
			kill(-1, SIGKILL);
		}
	}
}
