/* lxc-entry: the compiled entry helper. Every process that enters a running container
 * (lxc-attach, python-lxc's attach_wait with a command) is this program, not the host's
 * Python: statically linked (its /proc/PID/map_files names no host library) and exec'd by
 * lxctools from a sealed memfd copy (its /proc/PID/exe names no host file a container could
 * reopen for writing later: the CVE-2019-5736 class), non-dumpable from its first
 * instruction. LXC runs lxc-attach from a sealed memfd for the same reason; runc enters
 * namespaces from C (nsexec) before its Go runtime starts.
 *
 * lxctools (lxctools/spawn/entry.py) decides everything and hands over a plan on fd 3, a
 * SOCK_SEQPACKET socket; the plan's format is described once, in entry.py's docstring, beside
 * the encoder, and tests/unit/test_entry_plan.py checks that the tags below match it. The
 * same socket carries the answers back: "P"+pid, "C"+pty master (SCM_RIGHTS), "H" (asking
 * for a host pty, answered by "S"+its slave), "E"+message[\0hint].
 *
 * What it does, in order (attach/attach.py does the same in Python where this helper is not
 * built, and its docstring gives the reasons):
 *   in the host's namespaces: prlimits, lxc.proc writes, the AppArmor label for the exec
 *   (its cgroups were set by lxctools)
 *   setns in the order given (user first, mount last), chdir
 *   personality, capability bounding set, no supplementary groups, the user namespace's root
 *   the pty, allocated here, inside the container's mount namespace (as kernel/pty.py)
 *   the command's program looked up (container's PATH, or login shell from its passwd)
 *   no_new_privs, seccomp, -u/-g, capabilities cut down to the bounding set
 *   fork: the child is the first process visible in the container's pid namespace, and
 *   it holds nothing the container's root does not have; it takes the pty as controlling
 *   terminal and execs. The parent reports the pid and leaves (lxc-attach), or waits and
 *   ends as the command ended (python-lxc's attach, whose pid is ours).
 * With a remount of /proc and /sys (-R), the last line's confinement comes after the
 * remount, in the child (a fresh /proc must be mounted from inside the pid namespace).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <grp.h>
#include <termios.h>
#include <unistd.h>

/* The plan (lxctools/spawn/entry.py). Changing a tag or the layout of a record changes
 * PLAN_VERSION on both sides. */
#define PLAN_MAGIC "LXEP"
#define PLAN_VERSION 3
/* marker lxctools looks for before running a helper built from other sources */
const char plan_marker[] __attribute__((used)) = "lxctools-entry-plan-3";

enum tag {
	TAG_FLAGS = 1,      /* u32 F_* bits */
	TAG_NS = 2,         /* u32 fd index, u32 CLONE_NEW* type; in joining order */
	TAG_STDIO = 3,      /* i32 x3: fd index for stdin, stdout, stderr, or -1 */
	TAG_TTY = 4,        /* u8 each: the stdio fds that get the pty */
	TAG_PERSONA = 5,    /* u32 personality(2) value */
	TAG_SETUP_IDS = 6,  /* u32 uid, u32 gid: the user namespace's root */
	TAG_TARGET_IDS = 7, /* u32 uid, u32 gid: -u/-g (or the same) */
	TAG_CAPS = 8,       /* u64 mask of capabilities to drop; absent: caps untouched (-e) */
	TAG_SECCOMP = 9,    /* struct sock_filter[]: the compiled profile */
	TAG_CWD = 10,       /* string: directory to try */
	TAG_ENV = 11,       /* string NAME=VALUE, one record each */
	TAG_ARG = 12,       /* string, one record each: argv (none: the login shell) */
	TAG_PRLIMIT = 13,   /* u32 resource, u64 soft, u64 hard */
	TAG_PROC = 14,      /* string path below /proc/self, \0, string value */
	TAG_LSM = 15,       /* string: the AppArmor label to exec the command under */
	TAG_WINSIZE = 16,   /* struct winsize: the caller's terminal's, for the pty */
};

enum flag {
	F_API = 1,           /* python-lxc: errors on stderr, exec as execvp, wait and mirror */
	F_REMOUNT = 2,       /* -R: fresh /proc and /sys in a mount namespace of our own */
	F_NO_NEW_PRIVS = 4,  /* lxc.no_new_privs */
	F_DROP_CAPS = 8,     /* lxc.cap.drop / lxc.cap.keep to apply (the CAPS mask) */
};

#define MAX_FDS 64
#define DEVPTS_SUPER_MAGIC 0x1cd1
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

struct plan {
	uint32_t flags;
	int fds[MAX_FDS];
	int nfds;
	int ns_fd[16], ns_type[16], nns;
	int stdio[3];
	int tty[3], ntty;
	struct winsize winsize;
	int has_winsize;
	int has_persona;
	uint32_t persona;
	int has_setup;
	uid_t setup_uid, target_uid;
	gid_t setup_gid, target_gid;
	int has_target;
	int has_caps;
	uint64_t caps_drop;
	struct sock_filter *filter;
	unsigned short filter_len;
	const char *cwd;
	char **env, **argv;
	int nenv, nargv;
	struct { uint32_t resource; uint64_t soft, hard; } limits[32];
	int nlimits;
	const char *proc_path[32], *proc_value[32];
	int nproc;
	const char *lsm_label;
};

static int chan = 3;   /* the socket to lxctools; -1 once closed (API mode) */
static int api;

/* ---- reporting ----------------------------------------------------------------------- */

/* A message for lxctools ("E" + text, hint after a NUL, as spawn/childpipe.py) or, in API
 * mode, for the caller's stderr as lxc-attach prints it. */
static void say(const char *hint, const char *fmt, va_list ap)
{
	char text[1024];
	int len = vsnprintf(text, sizeof(text), fmt, ap);
	if (len < 0)
		len = 0;
	if (len >= (int)sizeof(text))
		len = sizeof(text) - 1;
	if (chan >= 0) {
		char msg[1100];
		int n = snprintf(msg, sizeof(msg), "E%s%c%s", text, 0, hint ? hint : "");
		if (n > (int)sizeof(msg))
			n = sizeof(msg);
		send(chan, msg, n, MSG_NOSIGNAL);
	} else {
		dprintf(2, "lxc-attach: %s\n", text);
		if (hint)
			dprintf(2, "lxc-attach: hint: %s\n", hint);
	}
}

__attribute__((format(printf, 2, 3)))
static void report(const char *hint, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	say(hint, fmt, ap);
	va_end(ap);
}

__attribute__((noreturn, format(printf, 2, 3)))
static void die_hint(const char *hint, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	say(hint, fmt, ap);
	va_end(ap);
	_exit(1);
}

#define die(...) die_hint(NULL, __VA_ARGS__)

/* ---- the plan ------------------------------------------------------------------------ */

static void read_plan(struct plan *plan)
{
	char control[CMSG_SPACE(sizeof(int) * MAX_FDS)];
	static char first[65536];
	struct iovec iov = { first, sizeof(first) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = control, .msg_controllen = sizeof(control) };
	ssize_t n;

	do
		n = recvmsg(chan, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		_exit(1);  /* lxctools changed its mind (it says why itself) */
	if (n < 16 || memcmp(first, PLAN_MAGIC, 4))
		die("entry helper: not a plan");
	uint32_t version, length, nfds;
	memcpy(&version, first + 4, 4);
	memcpy(&length, first + 8, 4);
	memcpy(&nfds, first + 12, 4);
	if (version != PLAN_VERSION)
		die_hint("reinstall lxctools (pip install .) so that both halves match",
			 "entry helper speaks plan version %d, lxctools %u", PLAN_VERSION, version);
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		int count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (int i = 0; i < count && plan->nfds < MAX_FDS; i++)
			memcpy(&plan->fds[plan->nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
	if ((uint32_t)plan->nfds != nfds || (msg.msg_flags & MSG_CTRUNC))
		die("entry helper: the plan's file descriptors did not all arrive");

	char *data = malloc(length + 1);
	if (!data)
		die("entry helper: out of memory");
	size_t have = n - 16;
	if (have > length)
		die("entry helper: plan longer than announced");
	memcpy(data, first + 16, have);
	while (have < length) {
		do
			n = recv(chan, data + have, length - have, 0);
		while (n < 0 && errno == EINTR);
		if (n <= 0)
			die("entry helper: plan cut short");
		have += n;
	}

	plan->stdio[0] = plan->stdio[1] = plan->stdio[2] = -1;
	plan->env = calloc(length / 8 + 2, sizeof(char *));
	plan->argv = calloc(length / 8 + 2, sizeof(char *));
	for (size_t off = 0; off + 8 <= length;) {
		uint32_t tag, len;
		memcpy(&tag, data + off, 4);
		memcpy(&len, data + off + 4, 4);
		char *v = data + off + 8;
		if (len > length - off - 8)
			die("entry helper: bad plan record %u", tag);
		off += 8 + ((len + 7) & ~7u);  /* records start 8-byte aligned */
		switch (tag) {
		case TAG_FLAGS:
			memcpy(&plan->flags, v, 4);
			break;
		case TAG_NS: {
			uint32_t index, type;
			memcpy(&index, v, 4);
			memcpy(&type, v + 4, 4);
			if (index >= (uint32_t)plan->nfds || plan->nns >= 16)
				die("entry helper: bad namespace record");
			plan->ns_fd[plan->nns] = plan->fds[index];
			plan->ns_type[plan->nns++] = type;
			break;
		}
		case TAG_STDIO:
			for (int i = 0; i < 3; i++) {
				int32_t index;
				memcpy(&index, v + 4 * i, 4);
				if (index >= plan->nfds)
					die("entry helper: bad stdio record");
				plan->stdio[i] = index < 0 ? -1 : plan->fds[index];
			}
			break;
		case TAG_TTY:
			for (uint32_t i = 0; i < len && i < 3; i++)
				plan->tty[plan->ntty++] = (unsigned char)v[i];
			break;
		case TAG_PERSONA:
			plan->has_persona = 1;
			memcpy(&plan->persona, v, 4);
			break;
		case TAG_SETUP_IDS:
			plan->has_setup = 1;
			memcpy(&plan->setup_uid, v, 4);
			memcpy(&plan->setup_gid, v + 4, 4);
			break;
		case TAG_TARGET_IDS:
			plan->has_target = 1;
			memcpy(&plan->target_uid, v, 4);
			memcpy(&plan->target_gid, v + 4, 4);
			break;
		case TAG_CAPS:
			plan->has_caps = 1;
			memcpy(&plan->caps_drop, v, 8);
			break;
		case TAG_SECCOMP:
			plan->filter = (struct sock_filter *)v;
			plan->filter_len = len / sizeof(struct sock_filter);
			break;
		case TAG_CWD:
			plan->cwd = v;
			break;
		case TAG_ENV:
			plan->env[plan->nenv++] = v;
			break;
		case TAG_ARG:
			plan->argv[plan->nargv++] = v;
			break;
		case TAG_PRLIMIT:
			if (plan->nlimits < 32) {
				memcpy(&plan->limits[plan->nlimits].resource, v, 4);
				memcpy(&plan->limits[plan->nlimits].soft, v + 4, 8);
				memcpy(&plan->limits[plan->nlimits].hard, v + 12, 8);
				plan->nlimits++;
			}
			break;
		case TAG_PROC:
			if (plan->nproc < 32) {
				plan->proc_path[plan->nproc] = v;
				plan->proc_value[plan->nproc++] = v + strlen(v) + 1;
			}
			break;
		case TAG_LSM:
			plan->lsm_label = v;
			break;
		case TAG_WINSIZE:
			if (len == sizeof(plan->winsize)) {
				memcpy(&plan->winsize, v, sizeof(plan->winsize));
				plan->has_winsize = 1;
			}
			break;
		default:
			die("entry helper: unknown plan record %u", tag);
		}
	}
}

/* ---- the pty, inside the container ---------------------------------------------------- */

static int openat2_(int dirfd, const char *path, uint64_t flags, uint64_t resolve)
{
	struct open_how how = { .flags = flags, .resolve = resolve };
	return syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

static int on_devpts(int fd)
{
	struct statfs sfs;
	return fstatfs(fd, &sfs) == 0 && sfs.f_type == DEVPTS_SUPER_MAGIC;
}

/* the same checks as lxctools/kernel/pty.py open_pair: no symlink on the way, a devpts
 * there, ptmx beneath it in the same mount, the slave from the master */
static int open_pair(int *master, int *slave)
{
	int dir = openat2_(AT_FDCWD, "/dev/pts", O_PATH | O_DIRECTORY | O_CLOEXEC,
			   RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
	if (dir < 0 && errno == ENOSYS) {
		int dev = open("/dev", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (dev < 0)
			return -1;
		dir = openat(dev, "pts", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(dev);
	}
	if (dir < 0)
		return -1;
	if (!on_devpts(dir)) {
		close(dir);
		errno = ENODEV;
		return -1;
	}
	int m = openat2_(dir, "ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC,
			 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV);
	if (m < 0 && errno == ENOSYS)
		m = openat(dir, "ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NOFOLLOW);
	close(dir);
	if (m < 0)
		return -1;
	int unlock = 0;
	if (!on_devpts(m) || ioctl(m, TIOCSPTLCK, &unlock)) {
		close(m);
		errno = ENODEV;
		return -1;
	}
	int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0 || !on_devpts(s) || !isatty(s)) {
		if (s >= 0)
			close(s);
		close(m);
		errno = ENOTTY;
		return -1;
	}
	*master = m;
	*slave = s;
	return 0;
}

static int send_fd(const char *kind, int fd)
{
	char control[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { (void *)kind, 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (fd >= 0) {
		msg.msg_control = control;
		msg.msg_controllen = sizeof(control);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	return sendmsg(chan, &msg, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

/* The slave for the command: the container's own pty (master to lxctools), else a host pty
 * lxctools makes (as LXC, when the container has no usable devpts). */
static int terminal(void)
{
	int master, slave;
	if (open_pair(&master, &slave) == 0) {
		int failed = send_fd("C", master);
		close(master);
		if (failed)
			die("cannot hand the pty to lxc-attach: %s", strerror(errno));
		return slave;
	}
	if (send_fd("H", -1))
		die("cannot ask lxc-attach for a pty: %s", strerror(errno));
	char control[CMSG_SPACE(sizeof(int))], kind = 0;
	struct iovec iov = { &kind, 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = control, .msg_controllen = sizeof(control) };
	ssize_t n;
	do
		n = recvmsg(chan, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	if (n != 1 || kind != 'S' || !c || c->cmsg_type != SCM_RIGHTS)
		die("lxc-attach sent no terminal");
	memcpy(&slave, CMSG_DATA(c), sizeof(int));
	return slave;
}

/* ---- capabilities and the rest of the confinement --------------------------------------- */

static int capsets(struct __user_cap_data_struct data[2], int set)
{
	struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
	return syscall(set ? SYS_capset : SYS_capget, &header, data);
}

/* lxc.cap.drop / keep (security/capabilities.py drop): out of the bounding set while
 * CAP_SETPCAP is there, out of the inheritable set, the ambient set emptied */
static void drop_caps(uint64_t drop)
{
	struct __user_cap_data_struct data[2];
	if (capsets(data, 0))
		die("capget: %s", strerror(errno));
	if (data[0].effective & (1u << CAP_SETPCAP)) {
		for (int cap = 0; cap < 64; cap++) {
			if (!(drop & (1ull << cap)))
				continue;
			int in = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
			if (in == 1 && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0))
				die("prctl PR_CAPBSET_DROP %d: %s", cap, strerror(errno));
		}
	}
	if ((data[0].inheritable | ((uint64_t)data[1].inheritable << 32)) & drop) {
		data[0].inheritable &= ~(uint32_t)drop;
		data[1].inheritable &= ~(uint32_t)(drop >> 32);
		if (capsets(data, 1))
			die("capset: %s", strerror(errno));
	}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
}

/* No capability outside the bounding set: the exec would not keep it anyway, and until
 * then the container's root could trace us (it may have CAP_SYS_PTRACE) */
static void cut_caps_to_bounding(void)
{
	uint64_t bounding = 0;
	for (int cap = 0; cap < 64; cap++) {
		int in = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
		if (in < 0)
			break;
		if (in)
			bounding |= 1ull << cap;
	}
	struct __user_cap_data_struct data[2];
	if (capsets(data, 0))
		die("capget: %s", strerror(errno));
	uint64_t permitted = data[0].permitted | ((uint64_t)data[1].permitted << 32);
	if (!(permitted & ~bounding))
		return;
	for (int i = 0; i < 2; i++) {
		uint32_t keep = (uint32_t)(bounding >> (32 * i));
		data[i].effective &= keep;
		data[i].permitted &= keep;
		data[i].inheritable &= keep;
	}
	if (capsets(data, 1))
		die("capset: %s", strerror(errno));
}

static void switch_ids(uid_t uid, gid_t gid)
{
	if (setresgid(gid, gid, gid))
		die("setresgid %u: %s", gid, strerror(errno));
	if (setresuid(uid, uid, uid))
		die("setresuid %u: %s", uid, strerror(errno));
}

static void set_exec_label(const char *label)
{
	int fd = open("/proc/self/attr/apparmor/exec", O_WRONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		fd = open("/proc/self/attr/exec", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		die_hint("lxc-attach -e LSM runs it under lxc-attach's own label",
			 "cannot set the AppArmor profile %s: %s", label, strerror(errno));
	char command[4096];
	int n = snprintf(command, sizeof(command), "exec %s", label);
	if (n < 0 || (size_t)n >= sizeof(command) || write(fd, command, n) != n)
		die_hint("is the profile still loaded? (cat /sys/kernel/security/apparmor/profiles)",
			 "Failed to change AppArmor profile to %s: %s", label, strerror(errno));
	close(fd);
}

/* what the container's init gave up, then -u/-g: last, just before the fork */
static void confine(struct plan *plan)
{
	if (plan->flags & F_NO_NEW_PRIVS && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		die("prctl PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	if (plan->filter_len) {
		struct sock_fprog prog = { plan->filter_len, plan->filter };
		if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0))
			die_hint("lxc.seccomp.profile", "cannot load the seccomp policy: %s",
				 strerror(errno));
	}
	if (plan->has_target && (!plan->has_setup ? (plan->target_uid || plan->target_gid) :
	    (plan->target_uid != plan->setup_uid || plan->target_gid != plan->setup_gid)))
		switch_ids(plan->target_uid, plan->target_gid);
	if (plan->has_caps)
		cut_caps_to_bounding();
}

static void remount_proc_sys(void)
{
	if (unshare(CLONE_NEWNS))
		die("unshare: %s", strerror(errno));
	if (mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL))
		die("mount / slave: %s", strerror(errno));
	if (umount2("/proc", MNT_DETACH))
		die("umount /proc: %s", strerror(errno));
	if (mount("proc", "/proc", "proc", 0, NULL))
		die("mount /proc: %s", strerror(errno));
	if (umount2("/sys", MNT_DETACH) == 0) {
		if (mount("sysfs", "/sys", "sysfs", 0, NULL))
			die("mount /sys: %s", strerror(errno));
	} else if (errno != EINVAL) {  /* EINVAL: /sys was no mount point, leave it */
		die("umount /sys: %s", strerror(errno));
	}
}

/* ---- the program ---------------------------------------------------------------------- */

static const char *getenv_plan(struct plan *plan, const char *name)
{
	size_t len = strlen(name);
	for (int i = 0; i < plan->nenv; i++)
		if (!strncmp(plan->env[i], name, len) && plan->env[i][len] == '=')
			return plan->env[i] + len + 1;
	return NULL;
}

/* the shell of UID in the container's /etc/passwd (a regular file; never a FIFO that
 * would hold us), else NULL */
static char *login_shell(uid_t uid)
{
	static char buf[65536];
	int fd = open("/etc/passwd", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct stat st;
	ssize_t n = 0, got;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return NULL;
	}
	while (n < (ssize_t)sizeof(buf) - 1 && (got = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
		n += got;
	close(fd);
	buf[n] = 0;
	char want[16];
	snprintf(want, sizeof(want), "%u", uid);
	for (char *line = buf, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		char *field[7];
		int count = 0;
		for (char *p = line; count < 7; count++) {
			field[count] = p;
			p = strchr(p, ':');
			if (!p) {
				count++;
				break;
			}
			*p++ = 0;
		}
		if (count >= 7 && !strcmp(field[2], want) && field[6][0])
			return field[6];
	}
	return NULL;
}

/* lxc-attach's lookup (attach/attach.py find_program): the first executable regular file
 * of that name along PATH, else the name as it is */
static char *find_program(const char *name, const char *path)
{
	if (strchr(name, '/'))
		return (char *)name;
	for (const char *p = path;; p++) {
		const char *end = strchrnul(p, ':');
		char *candidate;
		struct stat st;
		int failed = end == p ? asprintf(&candidate, "./%s", name) :
			     asprintf(&candidate, "%.*s/%s", (int)(end - p), p, name);
		if (failed < 0)
			die("out of memory");
		if (stat(candidate, &st) == 0 && S_ISREG(st.st_mode) && access(candidate, X_OK) == 0)
			return candidate;
		free(candidate);
		if (!*end)
			break;
		p = end;
	}
	return (char *)name;
}

/* execvp as Python's os.execvp does it (python-lxc's attach_run_command): every PATH entry
 * in turn, the first error other than ENOENT/ENOTDIR is the one reported */
static int execvp_plan(struct plan *plan, char **argv)
{
	if (strchr(argv[0], '/')) {
		execve(argv[0], argv, plan->env);
		return errno;
	}
	const char *path = getenv_plan(plan, "PATH");
	if (!path)
		path = "/bin:/usr/bin";
	int saved = 0, last = ENOENT;
	for (const char *p = path;; p++) {
		const char *end = strchrnul(p, ':');
		char *candidate;
		if (asprintf(&candidate, "%.*s/%s", (int)(end - p), p, argv[0]) < 0)
			return ENOMEM;
		execve(candidate, argv, plan->env);
		last = errno;
		if (last != ENOENT && last != ENOTDIR && !saved)
			saved = last;
		free(candidate);
		if (!*end)
			break;
		p = end;
	}
	return saved ? saved : last;
}

static int exec_code(int err)
{
	return err == ENOENT ? 127 : (err == EACCES || err == ENOEXEC) ? 126 : 255;
}

static void stdio(struct plan *plan)
{
	for (int i = 0; i < 3; i++)
		if (plan->stdio[i] >= 0 && plan->stdio[i] != i)
			dup2(plan->stdio[i], i);  /* dup2 clears close-on-exec on the copy */
}

__attribute__((noreturn))
static void run(struct plan *plan, char **argv, char *program)
{
	stdio(plan);
	if (api) {
		if (!plan->nargv) {  /* attach_run_shell: the login shell, then /bin/sh */
			char *shell[] = { argv[0], NULL }, *sh[] = { "/bin/sh", NULL };
			execvp_plan(plan, shell);
			execvp_plan(plan, sh);
			_exit(255);
		}
		int err = execvp_plan(plan, argv);
		dprintf(2, "%s - Failed to exec \"%s\"\n", strerror(err), argv[0]);
		_exit(exec_code(err));
	}
	execve(program, argv, plan->env);
	int err = errno;
	if (!plan->nargv && strcmp(program, "/bin/sh")) {
		char *sh[] = { "/bin/sh", NULL };
		execve("/bin/sh", sh, plan->env);
	}
	report(NULL, "%s - Failed to exec \"%s\"", strerror(err), argv[0]);
	_exit(exec_code(err));
}

/* end as the child ended: its exit code, or death by its signal */
__attribute__((noreturn))
static void mirror(pid_t child)
{
	int status;
	while (waitpid(child, &status, 0) < 0)
		if (errno != EINTR)
			_exit(1);
	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);
		struct rlimit none = { 0, 0 };
		sigset_t set;
		setrlimit(RLIMIT_CORE, &none);  /* the command dumped core already */
		signal(sig, SIG_DFL);
		sigemptyset(&set);
		sigaddset(&set, sig);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		kill(getpid(), sig);
		_exit(128 + sig);
	}
	_exit(WEXITSTATUS(status));
}

int main(int argc, char **argv)
{
	struct plan plan = { 0 };
	(void)argc;
	(void)argv;
	/* nobody may read our memory, exe or fds through /proc, nor trace us without
	 * CAP_SYS_PTRACE over the host: set before anything else happens */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* Python ignores SIGPIPE and SIGXFSZ, and exec keeps what is ignored */
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (fcntl(chan, F_SETFD, FD_CLOEXEC)) {
		dprintf(2, "lxc-entry is run by lxctools only\n");
		return 1;
	}
	int type = 0;
	socklen_t len = sizeof(type);
	if (getsockopt(chan, SOL_SOCKET, SO_TYPE, &type, &len) || type != SOCK_SEQPACKET) {
		dprintf(2, "lxc-entry is run by lxctools only\n");
		return 1;
	}
	/* API mode is read from the plan, but errors before it go to lxctools either way */
	read_plan(&plan);
	if (plan.flags & F_API && chan >= 0) {
		close(chan);
		chan = -1;
	}
	api = plan.flags & F_API;

	/* still in the host's namespaces: limits that may rise, /proc/self settings */
	for (int i = 0; i < plan.nlimits; i++) {
		struct rlimit limit = { plan.limits[i].soft, plan.limits[i].hard };
		if (setrlimit(plan.limits[i].resource, &limit))
			die("lxc.prlimit: setrlimit %u: %s", plan.limits[i].resource, strerror(errno));
	}
	for (int i = 0; i < plan.nproc; i++) {
		char path[256];
		snprintf(path, sizeof(path), "/proc/self/%s", plan.proc_path[i]);
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		size_t vlen = strlen(plan.proc_value[i]);
		if (fd < 0 || write(fd, plan.proc_value[i], vlen) != (ssize_t)vlen)
			die("%s: %s", path, strerror(errno));
		close(fd);
	}
	/* The container's AppArmor label, taken at the command's exec (fork keeps it): written
	 * here, while /proc is the host's (inside, /proc is the container's to fake) */
	if (plan.lsm_label)
		set_exec_label(plan.lsm_label);
	for (int i = 0; i < plan.nns; i++) {
		if (setns(plan.ns_fd[i], plan.ns_type[i]))
			die("setns: %s", strerror(errno));
		close(plan.ns_fd[i]);
	}
	if (plan.cwd)
		(void)!chdir(plan.cwd);  /* LXC keeps the caller's directory if the container has
					  * it; else setns left us at the container's root */

	int remount = plan.flags & F_REMOUNT;
	if (plan.has_persona && personality(plan.persona) < 0)
		die("personality: %s", strerror(errno));
	if (plan.has_caps && plan.flags & F_DROP_CAPS)
		drop_caps(plan.caps_drop);
	if (setgroups(0, NULL) && errno != EPERM)  /* EPERM: a user namespace's setgroups deny */
		die("setgroups: %s", strerror(errno));
	if (plan.has_setup)
		switch_ids(plan.setup_uid, plan.setup_gid);
	int slave = -1;
	if (plan.ntty) {
		slave = terminal();
		/* the caller's size before the command runs: lxc-attach's relay copies it only
		 * once it starts, after the exec (a command asking at once would see 0 0) */
		if (plan.has_winsize)
			(void)ioctl(slave, TIOCSWINSZ, &plan.winsize);
		uid_t setup = plan.has_setup ? plan.setup_uid : 0;
		if (plan.has_target && plan.target_uid != setup)
			(void)!fchown(slave, plan.target_uid, -1);  /* the user's terminal is the
								     * user's, where we may say so */
	}
	char **command = plan.argv, *program;
	char *shell_argv[2] = { NULL, NULL };
	if (plan.nargv) {
		const char *path = getenv_plan(&plan, "PATH");
		program = api ? command[0] : find_program(command[0], path ? path : DEFAULT_PATH);
	} else {
		char *shell = login_shell(plan.has_target ? plan.target_uid : 0);
		shell_argv[0] = shell ? strdup(shell) : "/bin/sh";
		command = shell_argv;
		program = shell_argv[0];
	}
	if (!remount)
		confine(&plan);

	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid > 0) {
		if (slave >= 0)
			close(slave);
		if (api)
			mirror(pid);
		char msg[16];
		int n = snprintf(msg, sizeof(msg), "P%d", pid);
		send(chan, msg, n, MSG_NOSIGNAL);
		_exit(0);
	}
	if (remount) {
		remount_proc_sys();
		confine(&plan);
	}
	if (slave >= 0) {
		if (setsid() < 0 || ioctl(slave, TIOCSCTTY, 0))
			die("cannot make the pty the controlling terminal: %s", strerror(errno));
		for (int i = 0; i < plan.ntty; i++)
			dup2(slave, plan.tty[i]);
		if (slave > 2)
			close(slave);
	}
	run(&plan, command, program);
}
