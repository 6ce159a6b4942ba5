/* What a hostile container's root does while it waits for the host's admin to attach
 * (issue 17, item 2): every process that execs /bin/busybox or opens /bait is held at that
 * moment (fanotify permission events: the exec cannot go on until we answer), and meanwhile
 * a second process polls /proc for any new pid. Each process caught is inspected: its
 * /proc/PID/exe and /proc/PID/map_files entries (what file, opened for writing?), its
 * capabilities and seccomp mode, and whether ptrace can seize it. Nothing is ever written
 * to a file that is not a memfd. One line per fact on stdout, for the test to judge:
 *   exe PID LINK | exe-id PID DEV INO | exe-id PID ERR errno
 *   exe-write PID ok|errno  (ok is never followed by a write)
 *   map PID LINK DEV INO | map-write PID LINK ok|errno
 *   status PID CapEff CapBnd Seccomp NoNewPrivs
 *   ptrace PID ok|errno
 *   fd PID N LINK | fd PID ERR errno  (what the process holds open)
 *   later-write PID LINK ok|errno  (reopening a held O_PATH fd of the exe at the end)
 *   caught PID fanotify|poll|arg
 * Built static by the test; runs until /watch-stop exists. `watcher --pid N` inspects N
 * alone (lxc-execute's init: PID 1 for the container's whole life) and ends; its
 * init-status line is then its own, the yardstick of what the container's processes get. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAXHELD 4096
static int held[MAXHELD], held_pid[MAXHELD], nheld;
static char held_link[MAXHELD][128];

static void inspect(int pid, const char *how)
{
	char path[256], link[4096], line[512];
	struct stat st;
	ssize_t n;
	int fd;

	printf("caught %d %s\n", pid, how);
	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	n = readlink(path, link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = 0;
	printf("exe %d %s\n", pid, n > 0 ? link : "-");
	fd = open(path, O_PATH | O_CLOEXEC);
	if (fd >= 0 && fstat(fd, &st) == 0) {
		printf("exe-id %d %lu %lu\n", pid, (unsigned long)st.st_dev, (unsigned long)st.st_ino);
		if (nheld < MAXHELD) {
			held_pid[nheld] = pid;
			snprintf(held_link[nheld], sizeof(held_link[0]), "%.120s", n > 0 ? link : "-");
			held[nheld++] = fd;
		} else {
			close(fd);
		}
	} else {
		printf("exe-id %d ERR %d\n", pid, errno);
	}
	fd = open(path, O_WRONLY | O_CLOEXEC);
	printf("exe-write %d %s\n", pid, fd >= 0 ? "ok" : strerrorname_np(errno));
	if (fd >= 0)
		close(fd);

	snprintf(path, sizeof(path), "/proc/%d/map_files", pid);
	DIR *dir = opendir(path);
	if (dir) {
		struct dirent *ent;
		while ((ent = readdir(dir))) {
			char entry[512];
			if (ent->d_name[0] == '.')
				continue;
			snprintf(entry, sizeof(entry), "%s/%s", path, ent->d_name);
			n = readlink(entry, link, sizeof(link) - 1);
			link[n > 0 ? n : 0] = 0;
			fd = open(entry, O_PATH | O_CLOEXEC);
			if (fd >= 0 && fstat(fd, &st) == 0)
				printf("map %d %s %lu %lu\n", pid, n > 0 ? link : "-",
				       (unsigned long)st.st_dev, (unsigned long)st.st_ino);
			else
				printf("map %d %s ERR %d\n", pid, n > 0 ? link : "-", errno);
			if (fd >= 0)
				close(fd);
			fd = open(entry, O_WRONLY | O_CLOEXEC);
			printf("map-write %d %s %s\n", pid, n > 0 ? link : "-",
			       fd >= 0 ? "ok" : strerrorname_np(errno));
			if (fd >= 0)
				close(fd);
		}
		closedir(dir);
	}

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	DIR *fds = opendir(path);
	if (fds) {
		struct dirent *ent;
		while ((ent = readdir(fds))) {
			char entry[512];
			if (ent->d_name[0] == '.')
				continue;
			snprintf(entry, sizeof(entry), "%s/%s", path, ent->d_name);
			n = readlink(entry, link, sizeof(link) - 1);
			link[n > 0 ? n : 0] = 0;
			printf("fd %d %s %s\n", pid, ent->d_name, n > 0 ? link : "-");
		}
		closedir(fds);
	} else {
		printf("fd %d ERR %s\n", pid, strerrorname_np(errno));
	}

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	FILE *status = fopen(path, "re");
	char eff[32] = "-", bnd[32] = "-", sec[8] = "-", nnp[8] = "-";
	if (status) {
		while (fgets(line, sizeof(line), status)) {
			sscanf(line, "CapEff: %31s", eff);
			sscanf(line, "CapBnd: %31s", bnd);
			sscanf(line, "Seccomp: %7s", sec);
			sscanf(line, "NoNewPrivs: %7s", nnp);
		}
		fclose(status);
	}
	printf("status %d %s %s %s %s\n", pid, eff, bnd, sec, nnp);

	/* seize from a child: when it exits the tracee is let go, never stopped */
	pid_t tracer = fork();
	if (tracer == 0) {
		alarm(5);  /* a kernel that opens the exec'd file under cred_guard_mutex: no hang */
		_exit(ptrace(PTRACE_SEIZE, pid, 0, 0) == 0 ? 0 : errno);
	}
	int wstatus = 0;
	waitpid(tracer, &wstatus, 0);
	int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 255;
	printf("ptrace %d %s\n", pid, code == 0 ? "ok" : code == 255 ? "timeout" : strerrorname_np(code));
	fflush(stdout);
}

static void later_writes(void)
{
	for (int i = 0; i < nheld; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", held[i]);
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		const char *result = fd >= 0 ? "ok" : strerrorname_np(errno);
		if (fd >= 0 && strncmp(held_link[i], "/memfd:", 7) == 0)
			/* a memfd is nobody's file: try for real */
			result = pwrite(fd, "x", 1, 0) == 1 ? "ok" : strerrorname_np(errno);
		printf("later-write %d %s %s\n", held_pid[i], held_link[i], result);
		if (fd >= 0)
			close(fd);
	}
}

static int stopped(void)
{
	return access("/watch-stop", F_OK) == 0;
}

static int is_ours(int pid, struct stat *own)
{
	char path[64];
	struct stat st;
	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	return stat(path, &st) == 0 && st.st_dev == own->st_dev && st.st_ino == own->st_ino;
}

static void poller(void)
{
	static char seen[1 << 22];
	struct stat own;
	if (stat("/proc/self/exe", &own))
		_exit(1);
	while (!stopped()) {
		DIR *dir = opendir("/proc");
		struct dirent *ent;
		while (dir && (ent = readdir(dir))) {
			int pid = atoi(ent->d_name);
			if (pid <= 1 || pid >= (int)sizeof(seen) || seen[pid])
				continue;
			seen[pid] = 1;
			if (!is_ours(pid, &own))  /* not the watcher, nor its tracers */
				inspect(pid, "poll");
		}
		if (dir)
			closedir(dir);
		usleep(500);
	}
	later_writes();
	fflush(stdout);
	_exit(0);
}

static void own_status(const char *path)
{
	/* what the container's own root is allowed: the yardstick for what we catch */
	FILE *status = fopen(path, "re");
	char line[512], bnd[32] = "0", sec[8] = "0";
	while (status && fgets(line, sizeof(line), status)) {
		sscanf(line, "CapBnd: %31s", bnd);
		sscanf(line, "Seccomp: %7s", sec);
	}
	if (status)
		fclose(status);
	printf("init-status %s %s\n", bnd, sec);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "--pid")) {
		own_status("/proc/self/status");
		inspect(atoi(argv[2]), "arg");
		later_writes();
		printf("done\n");
		return 0;
	}
	int fan = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, O_RDONLY | O_CLOEXEC);
	if (fan < 0) {
		printf("error fanotify_init %s\n", strerrorname_np(errno));
		return 1;
	}
	if (fanotify_mark(fan, FAN_MARK_ADD, FAN_OPEN_EXEC_PERM, AT_FDCWD, "/bin/busybox") ||
	    fanotify_mark(fan, FAN_MARK_ADD, FAN_OPEN_PERM, AT_FDCWD, "/bait")) {
		printf("error fanotify_mark %s\n", strerrorname_np(errno));
		return 1;
	}
	own_status("/proc/1/status");
	if (fork() == 0)
		poller();
	creat("/watch-ready", 0644);
	while (!stopped()) {
		struct pollfd pfd = { .fd = fan, .events = POLLIN };
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		char buf[8192];
		ssize_t len = read(fan, buf, sizeof(buf));
		struct fanotify_event_metadata *meta = (void *)buf;
		for (; FAN_EVENT_OK(meta, len); meta = FAN_EVENT_NEXT(meta, len)) {
			if (meta->pid > 0)
				inspect(meta->pid, "fanotify");
			struct fanotify_response answer = { .fd = meta->fd, .response = FAN_ALLOW };
			write(fan, &answer, sizeof(answer));
			if (meta->fd >= 0)
				close(meta->fd);
		}
	}
	later_writes();
	wait(NULL);
	printf("done\n");
	return 0;
}
