/* lxc-front: the compiled front door of lxc-info, lxc-wait, lxc-stop, lxc-ls and lxc-start -d
 * (issue 21 item 1).
 *
 * Why: every lxctools command pays CPython's start (17-30 ms) before it does anything, where
 * LXC's C tools answer `lxc-info -s` in 2-3 ms. The questions scripts ask in loops -- what
 * state, which pid, is it running yet, kill it -- are one round trip to the container's
 * supervisor. This program asks that round trip itself, as the caller (no new trust
 * boundary: the supervisor's socket is the one the Python tools use), and prints exactly what
 * the Python tool prints. Anything else -- an option it does not know, a container whose
 * supervisor does not answer (Python adopts orphans), one real LXC runs, an error that needs
 * its file:line message, a stopped container whose config must be read -- it hands to the
 * Python tool by exec with the same argv: never a different answer, only a slower one.
 * LXCTOOLS_PURE_PYTHON=1 (any value but "" and "0") forces the Python tool.
 *
 * Installed by pip (setup.py) as BINDIR/lxc-info, lxc-wait, lxc-stop, lxc-ls and lxc-start, copies of
 * lxctools/libexec/lxc-front (pyproject.toml's [tool.lxctools.front-door]). The Python tool
 * is `BINDIR/lxctools --as TOOL`, BINDIR found from its own /proc/self/exe: the console
 * script pip wrote for the Python it installed into, which no path compiled in could know.
 * Called by its own name (lxc-front), it prints what it knows of the protocol, for
 * tests/unit/test_front_door_protocol.py to compare with the Python side.
 *
 * The protocol (monitor/commands.py; the monitor's typed protocol module when it lands): one
 * abstract unix socket per running container, named from FNV-1a 64 of the lxcpath's device
 * and inode and the name; one JSON object per line each way.
 *
 * libc only, static; no allocation beyond a few buffers; every failure of our own is a
 * fallback to Python, which then says what is wrong in its words.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <termios.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- the protocol's constants (tests/unit/test_front_door_protocol.py checks them against Python) - */

/* monitor/commands.py STATES, in its order */
static const char *const STATES[] = {
    "STOPPED", "STARTING", "RUNNING", "STOPPING", "ABORTING", "FREEZING", "FROZEN", "THAWED",
};
#define NSTATES (sizeof(STATES) / sizeof(STATES[0]))
/* lxcpath_key: fnv64 of this text for an lxcpath that exists */
#define KEY_FORMAT "dir:%llu:%llu"
/* socket_name: "\0" then this, from fnv64(KEY "/" NAME) */
#define SOCKET_FORMAT "lxctools/%016llx/command"
/* the supervisor's commands this program sends (Supervisor.cmd_*) */
#define CMD_INFO "info"
#define CMD_STATE "state"
#define CMD_WAIT "wait"
#define CMD_STOP "stop"
/* the protocol's version (requests carry it as "v"), and each request's start */
#define PROTOCOL_VERSION "1"
#define REQUEST(cmd) "{\"cmd\": \"" cmd "\", \"v\": " PROTOCOL_VERSION
/* where a request carries a pidfd of its sender (protocol.SENDER_PIDFD) */
#define SENDER_PIDFD "first"
/* the fields sent and read, for the agreement test (diagnose) */
#define SENDS "info stats\nstate\nwait states\nstop\nattach elevated ns"
#define READS "info state init_pid init_start network stats\nstate state\nwait state\nerror error\n" \
    "attach version records nfds mnt setup env files cgroups maps"
/* commands.request's default: connect and answer within this many seconds */
#define REQUEST_TIMEOUT 10
/* lxc-stop -k then waits this long for STOPPED (cli/stop.py) */
#define KILL_WAIT 10
/* LXC's own command socket, lxcsocket.address: @LXCPATH/NAME/command, or when that does not
 * fit sun_path (this size), @lxc/FNV64(LXCPATH/NAME)/command */
#define LXC_SUN_PATH 108
/* Container: a name is at most this many bytes (api/container.py MAX_NAME); a container
 * started (check_new_name) at most MAX_NEW_NAME */
#define MAX_NAME 254
#define MAX_NEW_NAME 243
/* monitor/daemon.py daemon_socket: the lxcpath's supervisor, "\0" then this */
#define DAEMON_FORMAT "lxctools/%016llx/supervisor"
/* what lxc-start -d sends it (Container.start's options, nothing given) and the answer it
 * takes as the whole of a start; any other answer goes to Python in this variable */
#define START_OPTIONS "{\"rcfile\": null, \"defines\": [], \"share\": {}, " \
    "\"console_path\": null, \"console_log\": null, \"uid\": null, \"gid\": null, " \
    "\"argv\": [], \"execute\": false, \"foreground\": false, \"pidfile\": null, " \
    "\"passthrough\": false, \"restore\": null, \"log\": null}"
#define START_ANSWER_ENV "LXCTOOLS_START_ANSWER"
/* how the Python tool runs the lxcpath's supervisor this program spawns (cli/about.py
 * SUPERVISE: `lxctools --supervise LXCPATH`, daemon.serve_spawned), and the descriptor that
 * tells it is listening (one byte, or end of file when another won the race) */
#define SUPERVISE "--supervise"
#define READY_FD 3
/* cli/about.py SUPERVISE_PROGRAM: what runs the supervisor when BINDIR/lxctools's first
 * line names its interpreter alone (pip's): `INTERPRETER -S -c SUPERVISE_PROGRAM --supervise
 * LXCPATH`, site's work skipped where that changes nothing (the same text: `lxc-front
 * protocol` prints it, tests/unit/test_front_door_protocol.py compares) */
#define SUPERVISE_PROGRAM \
    "import sys\n" \
    "if sys.path and sys.path[0] == \"\":\n" \
    "    del sys.path[0]  # -c's: the current directory (/) is no place to import from\n" \
    "def paths():\n" \
    "    import os\n" \
    "    if os.environ.get(\"__PYVENV_LAUNCHER__\"):\n" \
    "        return None\n" \
    "    bindir = os.path.dirname(os.path.abspath(sys.executable))\n" \
    "    prefix = os.path.dirname(bindir)\n" \
    "    for conf in (os.path.join(bindir, \"pyvenv.cfg\"), os.path.join(prefix, \"pyvenv.cfg\")):\n" \
    "        if os.path.isfile(conf):\n" \
    "            break\n" \
    "    else:\n" \
    "        return None\n" \
    "    with open(conf, encoding=\"utf-8\") as handle:\n" \
    "        for line in handle:\n" \
    "            key, _, value = line.partition(\"=\")\n" \
    "            if key.strip().lower() == \"include-system-site-packages\" and value.strip().lower() != \"false\":\n" \
    "                return None\n" \
    "    site = \"%s/lib/python%d.%d/site-packages\" % (prefix, *sys.version_info[:2])\n" \
    "    found = [site]\n" \
    "    for name in sorted(os.listdir(site)):\n" \
    "        if name.startswith((\"sitecustomize\", \"usercustomize\")):\n" \
    "            return None\n" \
    "        if not name.endswith(\".pth\") or name == \"distutils-precedence.pth\":\n" \
    "            continue\n" \
    "        with open(os.path.join(site, name)) as handle:\n" \
    "            for line in handle:\n" \
    "                line = line.rstrip()\n" \
    "                if line.startswith((\"import \", \"import\\t\")):\n" \
    "                    return None\n" \
    "                path = os.path.abspath(os.path.join(site, line))\n" \
    "                if line and not line.startswith(\"#\") and path not in found and os.path.exists(path):\n" \
    "                    found.append(path)\n" \
    "    for where in sys.path:\n" \
    "        for name in (\"sitecustomize.py\", \"sitecustomize\", \"usercustomize.py\", \"usercustomize\"):\n" \
    "            if os.path.exists(os.path.join(where, name)):\n" \
    "                return None\n" \
    "    return prefix, found\n" \
    "try:\n" \
    "    found = paths()\n" \
    "except (OSError, ValueError, UnicodeError):\n" \
    "    found = None\n" \
    "if found is None:\n" \
    "    import site\n" \
    "    site.main()\n" \
    "else:\n" \
    "    sys.prefix = sys.exec_prefix = found[0]\n" \
    "    sys.path.extend(found[1])\n" \
    "try:\n" \
    "    from lxctools.cli.about import main\n" \
    "except ImportError:\n" \
    "    if found is None:\n" \
    "        raise\n" \
    "    import site\n" \
    "    site.main()\n" \
    "    from lxctools.cli.about import main\n" \
    "sys.exit(main())\n"

#define FALLBACK (-1000) /* a handler's "let Python answer" */
/* the names main() answers to (pyproject.toml's [tool.lxctools.front-door]) */
#define TOOLS "lxc-attach lxc-info lxc-ls lxc-start lxc-stop lxc-wait"

static const char *prog = "lxc-front";
/* this program's own path (/proc/self/exe): the Python tool is BINDIR/lxctools beside it */
static const char *self_exe;
/* SIGINT as the caller left it, before `interrupted` took it: what a child gets back */
static struct sigaction caller_sigint;

/* ---- small helpers -------------------------------------------------------------------- */

static unsigned long long fnv64(const char *data, size_t len)
{
    unsigned long long value = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++)
        value = (value ^ (unsigned char)data[i]) * 0x100000001b3ULL;
    return value;
}

/* Python's surrogateescape round trip is the identity for ASCII only when the locale is
 * unusual: anything else goes to Python, which decides */
static int plain_ascii(const char *text)
{
    for (; *text; text++)
        if ((unsigned char)*text >= 0x80)
            return 0;
    return 1;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len) {
        ssize_t done = write(fd, data, len);
        if (done < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        data += done;
        len -= (size_t)done;
    }
    return 0;
}

/* ---- where things are: paths.py ------------------------------------------------------- */

/* paths.read_system_conf_value over the whole file: the first line that gives KEY wins.
 * Returns 1 with the value in OUT, 0 when no line gives it, -1 when Python must decide (a
 * byte Python's bytes.splitlines would cut differently from liblxc's getline: \r, NUL). */
static int conf_value(const char *path, const char *key, char *out, size_t size)
{
    static char data[1 << 16];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0; /* liblxc and paths.py: the defaults, without a word */
    size_t len = 0;
    for (;;) {
        if (len == sizeof(data) - 1) {
            close(fd);
            return -1; /* a big lxc.conf: Python reads it */
        }
        ssize_t got = read(fd, data + len, sizeof(data) - 1 - len);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            close(fd);
            return 0; /* an OSError while reading: the defaults, as paths.py */
        }
        if (got == 0)
            break;
        len += (size_t)got;
    }
    close(fd);
    data[len] = 0;
    if (memchr(data, '\r', len) || memchr(data, 0, len))
        return -1;
    size_t klen = strlen(key);
    for (char *line = data; line < data + len;) {
        char *end = memchr(line, '\n', (size_t)(data + len - line));
        char *next = end ? end + 1 : data + len;
        if (*line != '#') {
            char *at = memmem(line, (size_t)(next - line), key, klen);
            int ok = at != NULL;
            for (char *c = line; ok && c < at; c++)
                ok = *c == ' ' || *c == '\t';
            char *eq = ok ? memchr(at, '=', (size_t)(next - at)) : NULL;
            ok = eq != NULL;
            for (char *c = ok ? at + klen : NULL; ok && c < eq; c++)
                ok = *c == ' ' || *c == '\t';
            if (ok) {
                char *value = eq + 1;
                while (value < next && (*value == ' ' || *value == '\t'))
                    value++;
                if (value < next) { /* nothing after "=" before the end of the file: skipped */
                    size_t vlen = (size_t)((end ? end : next) - value);
                    if (vlen >= size)
                        return -1;
                    memcpy(out, value, vlen);
                    out[vlen] = 0;
                    return 1;
                }
            }
        }
        line = next;
    }
    return 0;
}

/* paths.default_lxcpath for this caller; 0, or -1 when Python must decide */
static int default_lxcpath(char *out, size_t size)
{
    char conf[PATH_MAX];
    const char *home = getenv("HOME");
    if (!home || !*home)
        home = "/";
    const char *override = getenv("LXC_GLOBAL_CONF");
    if (override && *override)
        snprintf(conf, sizeof(conf), "%s", override);
    else if (geteuid() == 0)
        snprintf(conf, sizeof(conf), "/etc/lxc/lxc.conf");
    else if (snprintf(conf, sizeof(conf), "%s%s.config/lxc/lxc.conf", home,
                      home[strlen(home) - 1] == '/' ? "" : "/") >= (int)sizeof(conf))
        return -1;
    int found = conf_value(conf, "lxc.lxcpath", out, size);
    if (found < 0)
        return -1;
    if (!found) {
        if (geteuid() == 0)
            snprintf(out, size, "/var/lib/lxc");
        else if (snprintf(out, size, "%s%s.local/share/lxc", home,
                          home[strlen(home) - 1] == '/' ? "" : "/") >= (int)size)
            return -1;
    }
    /* liblxc's remove_trailing_slashes, as paths.global_value: value.rstrip("/\n") */
    size_t len = strlen(out);
    while (len && (out[len - 1] == '/' || out[len - 1] == '\n'))
        out[--len] = 0;
    return len ? 0 : -1; /* "": Python says what that means */
}

/* paths.normalize_lxcpath (rstrip "/", then os.path.abspath) for the plain cases; a path with
 * "." or ".." or "//" inside (abspath folds them by text, stat by the links) goes to Python */
static int normalize_lxcpath(const char *given, char *out, size_t size)
{
    char cwd[PATH_MAX];
    size_t len = strlen(given);
    while (len > 1 && given[len - 1] == '/')
        len--;
    if (!len)
        return -1;
    if (given[0] == '/') {
        if (len >= size)
            return -1;
        memcpy(out, given, len);
        out[len] = 0;
    } else {
        if (!getcwd(cwd, sizeof(cwd)) || cwd[0] != '/')
            return -1;
        if (snprintf(out, size, "%s%s%.*s", cwd, strcmp(cwd, "/") ? "/" : "", (int)len,
                     given) >= (int)size)
            return -1;
    }
    /* every component after the leading "/" must be a plain name */
    for (const char *c = out + 1; *c;) {
        const char *slash = strchr(c, '/');
        size_t n = slash ? (size_t)(slash - c) : strlen(c);
        if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return -1;
        c += n + (slash ? 1 : 0);
    }
    return 0;
}

/* ---- the supervisor's socket: monitor/commands.py -------------------------------------- */

/* commands.socket_name of an lxcpath that exists; -1 when it does not (Python decides) */
static int socket_address(const char *lxcpath, const char *name, struct sockaddr_un *addr,
                          socklen_t *addrlen)
{
    struct stat st;
    char text[64 + MAX_NAME + 2];
    if (stat(lxcpath, &st) < 0)
        return -1;
    int n = snprintf(text, sizeof(text), KEY_FORMAT, (unsigned long long)st.st_dev,
                     (unsigned long long)st.st_ino);
    unsigned long long key = fnv64(text, (size_t)n);
    n = snprintf(text, sizeof(text), "%016llx/%s", key, name);
    if (n < 0 || n >= (int)sizeof(text))
        return -1;
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    n = snprintf(addr->sun_path + 1, sizeof(addr->sun_path) - 1, SOCKET_FORMAT,
                 fnv64(text, (size_t)n));
    *addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
    return 0;
}

/* commands.connect_address with a timeout: a connected socket, or -1 (refused, absent, a
 * full queue: Python's way handles each) */
static int connect_supervisor(const char *lxcpath, const char *name)
{
    struct sockaddr_un addr;
    socklen_t addrlen;
    if (socket_address(lxcpath, name, &addr, &addrlen) < 0)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {REQUEST_TIMEOUT, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&addr, addrlen) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* one line of the supervisor's, NUL-terminated in BUF (no newline): its length with the
 * newline; -1 at end of file (or a reset), -2 on a timeout or past the buffer */
struct reader {
    int fd;
    char buf[1 << 20];
    size_t have;
};

static int read_line(struct reader *r, char **line, int timeout_ms)
{
    for (;;) {
        char *nl = memchr(r->buf, '\n', r->have);
        if (nl) {
            *nl = 0;
            *line = r->buf;
            return (int)(nl - r->buf) + 1;
        }
        if (r->have == sizeof(r->buf))
            return -2;
        if (timeout_ms >= 0) {
            struct pollfd p = {r->fd, POLLIN, 0};
            int ready = poll(&p, 1, timeout_ms);
            if (ready < 0 && errno == EINTR)
                continue;
            if (ready <= 0)
                return -2;
        }
        ssize_t got = read(r->fd, r->buf + r->have, sizeof(r->buf) - r->have);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        r->have += (size_t)got;
    }
}

static void consume_line(struct reader *r, int used)
{
    memmove(r->buf, r->buf + used, r->have - (size_t)used);
    r->have -= (size_t)used;
}

/* ---- just enough JSON: the supervisor's answers are json.dumps of plain dicts ---------- */

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

/* past one JSON value, or NULL when it is not one */
static const char *skip_value(const char *p, int depth)
{
    p = skip_ws(p);
    if (depth > 64)
        return NULL;
    if (*p == '"') {
        for (p++; *p && *p != '"'; p++)
            if (*p == '\\' && !*++p)
                return NULL;
        return *p == '"' ? p + 1 : NULL;
    }
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        p = skip_ws(p + 1);
        if (*p == close)
            return p + 1;
        for (;;) {
            if (close == '}') {
                p = skip_value(p, depth + 1); /* the key */
                if (!p || *(p = skip_ws(p)) != ':')
                    return NULL;
                p++;
            }
            p = skip_value(p, depth + 1);
            if (!p)
                return NULL;
            p = skip_ws(p);
            if (*p == close)
                return p + 1;
            if (*p != ',')
                return NULL;
            p++;
        }
    }
    const char *start = p;
    while (*p && (strchr("+-.0123456789eE", *p) || (*p >= 'a' && *p <= 'z')))
        p++;
    return p > start ? p : NULL;
}

/* the value of KEY in the object at OBJ (start and end), or NULL; -1 in *bad when OBJ is not
 * an object this reader understands */
static const char *member(const char *obj, const char *key, const char **end)
{
    const char *p = skip_ws(obj);
    size_t klen = strlen(key);
    if (*p != '{')
        return NULL;
    p = skip_ws(p + 1);
    if (*p == '}')
        return NULL;
    for (;;) {
        const char *kstart = p;
        const char *kend = skip_value(p, 0);
        if (!kend || *kstart != '"')
            return NULL;
        p = skip_ws(kend);
        if (*p != ':')
            return NULL;
        const char *value = skip_ws(p + 1);
        const char *vend = skip_value(value, 0);
        if (!vend)
            return NULL;
        if ((size_t)(kend - kstart) == klen + 2 && !memcmp(kstart + 1, key, klen)) {
            if (end)
                *end = vend;
            return value;
        }
        p = skip_ws(vend);
        if (*p != ',')
            return NULL;
        p = skip_ws(p + 1);
    }
}

static int is_null(const char *value)
{
    return value && !strncmp(value, "null", 4);
}

/* a JSON integer (no fraction, no exponent): 1 with *out, 0 otherwise */
static int integer(const char *value, const char *end, long long *out)
{
    char text[32];
    size_t len = (size_t)(end - value);
    if (!value || len == 0 || len >= sizeof(text))
        return 0;
    memcpy(text, value, len);
    text[len] = 0;
    const char *digits = text[0] == '-' ? text + 1 : text;
    if (!*digits || strspn(digits, "0123456789") != strlen(digits) || strlen(digits) > 18)
        return 0;
    *out = strtoll(text, NULL, 10);
    return 1;
}

/* a state name of STATES from a JSON string value, or NULL */
static const char *state_value(const char *value, const char *end)
{
    if (!value || *value != '"')
        return NULL;
    for (size_t i = 0; i < NSTATES; i++) {
        size_t len = strlen(STATES[i]);
        if ((size_t)(end - value) == len + 2 && !memcmp(value + 1, STATES[i], len))
            return STATES[i];
    }
    return NULL;
}

/* ---- the command line: argparse's forms this program takes; any other goes to Python --- */

struct args {
    const char *name;
    const char *lxcpath;
    int quiet;
    /* lxc-info */
    int state, pid, ips, stats, raw;
    /* lxc-wait */
    const char *states;
    const char *timeout;
    /* lxc-stop */
    int kill, nowait, nolock;
    /* lxc-ls */
    int line, fancy;
    int f_active, f_running, f_frozen, f_stopped, f_defined; /* its state filters */
    /* lxc-start */
    int daemon;
};

struct option_spec {
    const char *short_form; /* "-s", or NULL */
    const char *long_form;  /* "--state" */
    int takes_value;
    size_t offset; /* in struct args: an int flag, or a const char * value */
};

#define FLAG(s, l, field) {s, l, 0, offsetof(struct args, field)}
#define VALUE(s, l, field) {s, l, 1, offsetof(struct args, field)}

static const struct option_spec COMMON[] = {
    VALUE("-n", "--name", name), VALUE("-P", "--lxcpath", lxcpath), FLAG("-q", "--quiet", quiet),
    {NULL, NULL, 0, 0},
};
static const struct option_spec INFO[] = {
    FLAG("-s", "--state", state), FLAG("-p", "--pid", pid), FLAG("-i", "--ips", ips),
    FLAG("-S", "--stats", stats),
    FLAG("-H", "--no-humanize", raw), {NULL, NULL, 0, 0},
};
static const struct option_spec WAIT[] = {
    VALUE("-s", "--state", states), VALUE("-t", "--timeout", timeout), {NULL, NULL, 0, 0},
};
/* lxc-ls has no name and no -n */
static const struct option_spec COMMON_LS[] = {
    VALUE("-P", "--lxcpath", lxcpath), FLAG("-q", "--quiet", quiet), {NULL, NULL, 0, 0},
};
static const struct option_spec LS[] = {
    FLAG("-1", "--line", line), FLAG("-f", "--fancy", fancy), FLAG(NULL, "--active", f_active),
    FLAG(NULL, "--running", f_running), FLAG(NULL, "--frozen", f_frozen),
    FLAG(NULL, "--stopped", f_stopped), FLAG(NULL, "--defined", f_defined), {NULL, NULL, 0, 0},
};
static const struct option_spec START[] = {
    FLAG("-d", "--daemon", daemon), {NULL, NULL, 0, 0},
};
static const struct option_spec STOP[] = {
    FLAG("-k", "--kill", kill), FLAG("-W", "--nowait", nowait), FLAG(NULL, "--nolock", nolock),
    {NULL, NULL, 0, 0},
};

static const struct option_spec *find_option(const struct option_spec *table, const char *word,
                                             const char **attached)
{
    for (; table->long_form; table++) {
        size_t llen = strlen(table->long_form);
        if ((table->short_form && !strcmp(word, table->short_form)) ||
            !strcmp(word, table->long_form)) {
            *attached = NULL;
            return table;
        }
        /* --name=VALUE (argparse's explicit value); -nVALUE is left to Python */
        if (table->takes_value && !strncmp(word, table->long_form, llen) && word[llen] == '=') {
            *attached = word + llen + 1;
            return table;
        }
    }
    return NULL;
}

/* 0, or FALLBACK for anything but the plain forms: each option at most once (values), the
 * name by -n or as the one positional word, no value that starts with "-" (getopt_values'
 * rule is Python's to apply), no "--", no abbreviation, no bundled flags */
static int parse_args(int argc, char **argv, const struct option_spec *own, struct args *a)
{
    const char *positional = NULL;
    int named = own != LS;
    memset(a, 0, sizeof(*a));
    for (int i = 1; i < argc; i++) {
        const char *word = argv[i];
        const char *attached;
        const struct option_spec *opt = NULL;
        if (word[0] != '-') {
            if (positional || !*word || !named)
                return FALLBACK; /* lxc-ls: a word is a filter (a regular expression) */
            positional = word;
            continue;
        }
        opt = find_option(named ? COMMON : COMMON_LS, word, &attached);
        if (!opt)
            opt = find_option(own, word, &attached);
        if (!opt)
            return FALLBACK;
        char *field = (char *)a + opt->offset;
        if (!opt->takes_value) {
            *(int *)field = 1;
            continue;
        }
        const char *value = attached;
        if (!value) {
            if (i + 1 >= argc)
                return FALLBACK;
            value = argv[++i];
        }
        /* a value that starts with "-": getopt_values' rule is Python's to apply, but for
         * lxc-wait's -t -1 (a number is no option) */
        if (*(const char **)field || !*value ||
            (value[0] == '-' && (opt->offset != offsetof(struct args, timeout) ||
                                 strspn(value + 1, "0123456789") != strlen(value + 1))))
            return FALLBACK;
        *(const char **)field = value;
    }
    if (positional) {
        if (a->name)
            return FALLBACK; /* argparse: "unrecognized arguments" */
        a->name = positional;
    }
    if (!a->name && named)
        return FALLBACK;
    return 0;
}

/* api/container.py valid_name, within what this program answers */
static int plain_name(const char *name)
{
    size_t len = strlen(name);
    return len && len <= MAX_NAME && !strchr(name, '/') && strcmp(name, ".") &&
           strcmp(name, "..") && plain_ascii(name);
}

/* Container(name, lxcpath): the lxcpath as the Python tool sees it, checks that the name is
 * one it takes without a word, and that no half-made container is there to settle */
static int container_path(const struct args *a, char *lxcpath, size_t size)
{
    if (!plain_name(a->name))
        return FALLBACK;
    if (a->lxcpath ? normalize_lxcpath(a->lxcpath, lxcpath, size) : default_lxcpath(lxcpath, size))
        return FALLBACK;
    if (!plain_ascii(lxcpath))
        return FALLBACK;
    char partial[PATH_MAX];
    struct stat st;
    if (snprintf(partial, sizeof(partial), "%s/%s/partial", lxcpath, a->name) >=
            (int)sizeof(partial) ||
        stat(partial, &st) == 0)
        return FALLBACK; /* a `partial` marker: Python settles it first */
    return 0;
}

/* send the request LINE (N bytes, its newline included) with a pidfd of ourselves beside it
 * (protocol.SENDER_PIDFD: the supervisor's proof of who asks where the kernel has no
 * SO_PEERPIDFD); 0, or -1 */
static int send_line(int fd, char *line, size_t n)
{
    char control[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {line, n};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    int self = (int)syscall(SYS_pidfd_open, getpid(), 0);
    if (self >= 0) {
        memset(control, 0, sizeof(control));
        msg.msg_control = control;
        msg.msg_controllen = sizeof(control);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &self, sizeof(int));
    }
    ssize_t sent = sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (self >= 0)
        close(self);
    return sent == (ssize_t)n ? 0 : -1;
}

/* send one request line; 0, or -1 */
static int send_request(int fd, const char *json)
{
    char line[512];
    int n = snprintf(line, sizeof(line), "%s\n", json);
    if (n < 0 || n >= (int)sizeof(line))
        return -1;
    return send_line(fd, line, (size_t)n);
}

static struct reader reader;

/* wait (at most a second) until NAME's supervisor's socket takes no connection any more;
 * a probe that finds the queue full (EAGAIN: it listens, but does not accept) finds it there */
static void wait_gone(const char *lxcpath, const char *name)
{
    struct sockaddr_un addr;
    socklen_t addrlen;
    if (socket_address(lxcpath, name, &addr, &addrlen) < 0)
        return;
    for (int i = 0; i < 100; i++) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            return;
        int there = connect(fd, (struct sockaddr *)&addr, addrlen) == 0 || errno == EAGAIN;
        close(fd);
        if (!there)
            return;
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
}

/* one request on FD and the first line of its answer; -1 when there is none. A supervisor
 * that closes without an answer is dying: a SIGKILLed one's socket still takes connections
 * for a moment (and Python, 30 ms slower to get there, would not have seen it). So wait for
 * the socket to go before the caller hands over to Python, which then finds the record
 * without a listener and has the lxcpath's supervisor adopt the container. */
static int ask(const char *lxcpath, const char *name, int fd, const char *request, char **line)
{
    reader.fd = fd;
    reader.have = 0;
    int got = send_request(fd, request) ? -1 : read_line(&reader, line, REQUEST_TIMEOUT * 1000);
    if (got >= 0)
        return got;
    if (got == -1)
        wait_gone(lxcpath, name);
    return -1;
}

/* ---- lxc-info ------------------------------------------------------------------------- */

/* cli/info.py human_size: LXC's size_to_human_readable */
static void human_size(char *out, size_t size, long long value)
{
    static const struct { const char *unit; double scale; } UNITS[] = {
        {"GiB", 1073741824.0}, {"MiB", 1048576.0}, {"KiB", 1024.0},
    };
    for (size_t i = 0; i < 3; i++)
        if (value >= (long long)UNITS[i].scale) {
            snprintf(out, size, "%.2f %s", (double)value / UNITS[i].scale, UNITS[i].unit);
            return;
        }
    snprintf(out, size, "%lld bytes", value);
}

/* append one row as cli/info.py writes it: "%-15s %s", or the value bare */
static int row(char *out, size_t size, size_t *used, const char *label, const char *value, int bare)
{
    int n = bare ? snprintf(out + *used, size - *used, "%s\n", value)
                 : snprintf(out + *used, size - *used, "%-15s %s\n", label, value);
    if (n < 0 || (size_t)n >= size - *used)
        return -1;
    *used += (size_t)n;
    return 0;
}

static char *slurp_at(int dir, const char *path, size_t limit, size_t *size);

/* kernel/procdir.py ProcDir: /proc/PID held by a directory fd (bound to that process,
 * whatever later takes its pid) and checked against init's start time as the supervisor's
 * answer LINE tells it ("init_start"; null or absent: no check). -1 when it cannot be read
 * or names another process: nothing is read, as Python reads nothing. */
static int proc_dir(long long pid, const char *line)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%lld", pid);
    int dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return -1;
    const char *end = NULL;
    const char *value = member(line, "init_start", &end);
    long long start;
    if (!value || is_null(value))
        return dir;
    char *stat = integer(value, end, &start) ? slurp_at(dir, "stat", 1 << 16, NULL) : NULL;
    char *field = stat ? strrchr(stat, ')') : NULL;
    int same = 0;
    if (field) {
        field++;
        for (int i = 0; i < 19 && field; i++) { /* the 22nd field: 19 after the state */
            field += strspn(field, " ");
            field = strchr(field, ' ');
        }
        if (field) {
            char *after;
            errno = 0;
            long long seen = strtoll(field, &after, 10);
            same = !errno && after != field && seen == start;
        }
    }
    free(stat);
    if (!same) {
        close(dir);
        return -1;
    }
    return dir;
}

/* cli/info.py dead_lxcfs looks at the container's lxcfs mounts: with any, Python answers
 * (its warning, its checks). A mountinfo Python would not decode as UTF-8 goes there too. */
static int has_lxcfs(int dir)
{
    static char data[1 << 18];
    int fd = openat(dir, "mountinfo", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0; /* Python: OSError -> nothing to tell */
    size_t len = 0;
    for (;;) {
        ssize_t got = read(fd, data + len, sizeof(data) - 1 - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            close(fd);
            return 1;
        }
        if (got == 0)
            break;
        len += (size_t)got;
        if (len == sizeof(data) - 1) {
            close(fd);
            return 1;
        }
    }
    close(fd);
    data[len] = 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)data[i] >= 0x80 || !data[i])
            return 1;
    return strstr(data, " - fuse.lxcfs ") != NULL;
}

/* Python's str.strip()/split() whitespace, as far as ASCII goes */
static int py_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

/* TEXT (NUL-ended) cut into lines as str.splitlines() cuts ASCII: the next line's start and
 * its end in *END; NULL at the end */
static char *next_line(char *text, char **end)
{
    if (!*text)
        return NULL;
    char *p = text;
    while (*p && *p != '\n' && *p != '\r' && *p != '\v' && *p != '\f' &&
           !(*p >= 0x1c && *p <= 0x1e))
        p++;
    *end = p;
    return text;
}

static char *after_line(char *end)
{
    if (!*end)
        return end;
    if (end[0] == '\r' && end[1] == '\n')
        return end + 2;
    return end + 1;
}

/* [START, END) stripped as str.strip() does */
static void strip(char **start, char **end)
{
    while (*start < *end && py_space(**start))
        (*start)++;
    while (*end > *start && py_space((*end)[-1]))
        (*end)--;
}

static int all_ascii(const char *text)
{
    for (; *text; text++)
        if ((unsigned char)*text >= 0x80)
            return 0;
    return 1;
}

/* network/netinfo.py host_counters: (tx, rx) of the host-side device NAME from this network
 * namespace's /proc/thread-self/net/dev (its receive and transmit bytes: the container's
 * view); 0 when found, 1 when not there, -1 when Python should read it */
static int host_counters(const char *name, long long *tx, long long *rx)
{
    int dir = open("/proc/thread-self", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return 1; /* Python: OSError -> None */
    char *text = slurp_at(dir, "net/dev", 1 << 22, NULL);
    close(dir);
    if (!text)
        return 1;
    if (!all_ascii(text)) {
        free(text);
        return -1;
    }
    int found = 1, index = 0;
    char *end;
    for (char *line = text; line && (line = next_line(line, &end)); line = after_line(end)) {
        if (index++ < 2)
            continue;
        char *colon = memchr(line, ':', (size_t)(end - line));
        char *iface = line, *iface_end = colon ? colon : end;
        strip(&iface, &iface_end);
        if ((size_t)(iface_end - iface) != strlen(name) || strncmp(iface, name, strlen(name)))
            continue;
        /* data.split(): fields 0 and 8 */
        char *p = colon ? colon + 1 : end;
        long long numbers[9];
        int n = 0;
        while (p < end && n < 9) {
            while (p < end && py_space(*p))
                p++;
            if (p == end)
                break;
            char *word = p;
            while (p < end && !py_space(*p))
                p++;
            char saved = *p;
            *p = 0;
            char *after;
            errno = 0;
            numbers[n] = strtoll(word, &after, 10);
            *p = saved;
            if (errno || after != p || !(*word >= '0' && *word <= '9')) {
                free(text);
                return -1;
            }
            n++;
        }
        if (n < 9) {
            free(text);
            return -1;
        }
        *tx = numbers[0];
        *rx = numbers[8];
        found = 0;
        break;
    }
    free(text);
    return found;
}

/* the Link/TX/RX/Total rows of each host-side device in the supervisor's NETWORK list (a
 * JSON array of objects, or null); -1 when Python should answer */
static int link_rows(const char *network, char *out, size_t size, size_t *used, int raw)
{
    if (!network || is_null(network))
        return 0;
    const char *p = skip_ws(network);
    if (*p != '[')
        return -1;
    p = skip_ws(p + 1);
    if (*p == ']')
        return 0;
    for (;;) {
        const char *next = skip_value(p, 0);
        if (!next || *p != '{')
            return -1;
        const char *end = NULL;
        const char *value = member(p, "host_name", &end);
        char name[64] = "";
        if (value && !is_null(value)) {
            size_t len = (size_t)(end - value);
            if (*value != '"' || len < 2 || len - 2 >= sizeof(name) ||
                memchr(value + 1, '\\', len - 2))
                return -1; /* an escape, or no string: Python decodes it */
            memcpy(name, value + 1, len - 2);
            name[len - 2] = 0;
        }
        long long tx, rx;
        int got = host_counters(name, &tx, &rx);
        if (got < 0)
            return -1;
        if (got == 0) {
            char text[64];
            if (row(out, size, used, "Link:", name, 0))
                return -1;
            const long long values[3] = {tx, rx, tx + rx};
            static const char *LABELS[3] = {" TX bytes:", " RX bytes:", " Total bytes:"};
            for (int i = 0; i < 3; i++) {
                if (raw)
                    snprintf(text, sizeof(text), "%lld", values[i]);
                else
                    human_size(text, sizeof(text), values[i]);
                if (row(out, size, used, LABELS[i], text, 0))
                    return -1;
            }
        }
        p = skip_ws(next);
        if (*p == ']')
            return 0;
        if (*p != ',')
            return -1;
        p = skip_ws(p + 1);
    }
}

static int addresses(int dir, char *v4, size_t v4size, char *v6, size_t v6size);

/* the IP rows of the container whose /proc directory is DIR: addresses()' lists, one row
 * each; -1 when Python should read them */
static int address_rows(int dir, char *out, size_t size, size_t *used, int bare)
{
    static char v4[1 << 14], v6[1 << 14];
    if (addresses(dir, v4, sizeof(v4), v6, sizeof(v6)))
        return -1;
    for (char *list = v4; list; list = list == v4 ? v6 : NULL) {
        /* ", "-joined: no address has a comma */
        for (char *item = list, *next; *item; item = next) {
            next = strstr(item, ", ");
            if (next) {
                *next = 0;
                next += 2;
            } else {
                next = item + strlen(item);
            }
            if (row(out, size, used, "IP:", item, bare))
                return -1;
        }
    }
    return 0;
}

static int lxc_info(int argc, char **argv)
{
    struct args a;
    char lxcpath[PATH_MAX];
    if (parse_args(argc, argv, INFO, &a) || container_path(&a, lxcpath, sizeof(lxcpath)))
        return FALLBACK;
    int count = a.state + a.pid + a.ips + a.stats;
    int every = !count; /* no fact named (and no -c): every one, as cli/info.py selection() */
    int fd = connect_supervisor(lxcpath, a.name);
    if (fd < 0)
        return FALLBACK;
    /* one "info" (with the usage when asked) answers what Python asks in two requests */
    char *line;
    int stats = a.stats || every;
    int got = ask(lxcpath, a.name, fd,
                  stats ? REQUEST(CMD_INFO) ", \"stats\": true}" : REQUEST(CMD_INFO) "}", &line);
    close(fd);
    if (got < 0)
        return FALLBACK;
    const char *end = NULL;
    const char *value = member(line, "state", &end);
    const char *state = state_value(value, end);
    if (!state || !strcmp(state, "STOPPED") || member(line, "error", NULL))
        return FALLBACK;
    long long pid;
    value = member(line, "init_pid", &end);
    if (!integer(value, end, &pid) || pid <= 0)
        return FALLBACK;
    int dir = proc_dir(pid, line);
    if (dir < 0)
        return FALLBACK; /* init gone, or its pid another's: Python says what it reads */
    if (has_lxcfs(dir)) {
        close(dir);
        return FALLBACK;
    }

    static char out[1 << 16];
    size_t used = 0;
    char text[64];
    int bare = a.raw && count == 1;
    if (every && row(out, sizeof(out), &used, "Name:", a.name, 0))
        goto python;
    if ((a.state || every) && row(out, sizeof(out), &used, "State:", state, bare))
        goto python;
    if (a.pid || every) {
        snprintf(text, sizeof(text), "%lld", pid);
        if (row(out, sizeof(out), &used, "PID:", text, bare))
            goto python;
    }
    if ((a.ips || every) && address_rows(dir, out, sizeof(out), &used, bare))
        goto python;
    close(dir);
    dir = -1;
    if (stats) {
        const char *usage = member(line, "stats", NULL);
        if (!usage || *usage != '{')
            return FALLBACK;
        static const struct { const char *label, *key; } USAGE[] = {
            {"CPU use:", "cpu_ns"}, {"BlkIO use:", "blkio_bytes"},
            {"Memory use:", "memory_bytes"}, {"KMem use:", "kmem_bytes"},
        };
        for (size_t i = 0; i < 4; i++) {
            long long number;
            value = member(usage, USAGE[i].key, &end);
            if (!value || is_null(value))
                continue; /* stats.get(key) is None: no row */
            if (!integer(value, end, &number))
                return FALLBACK;
            if (a.raw)
                snprintf(text, sizeof(text), "%lld", number);
            else if (i == 0)
                snprintf(text, sizeof(text), "%.2f seconds", (double)number / 1e9);
            else
                human_size(text, sizeof(text), number);
            /* LXC prints usage with its labels even under -H */
            if (row(out, sizeof(out), &used, USAGE[i].label, text, 0))
                return FALLBACK;
        }
        if (link_rows(member(line, "network", NULL), out, sizeof(out), &used, a.raw))
            return FALLBACK;
    }
    write_all(1, out, used);
    return 0;
python:
    if (dir >= 0)
        close(dir);
    return FALLBACK;
}

/* ---- lxc-wait ------------------------------------------------------------------------- */

/* answered when the container is already in one of the states (the common "is it up yet"):
 * any real wait goes to Python, which times it and follows restarts */
static int lxc_wait(int argc, char **argv)
{
    struct args a;
    char lxcpath[PATH_MAX];
    if (parse_args(argc, argv, WAIT, &a) || !a.states)
        return FALLBACK;
    /* STATES: "|"-separated names of STATES, each known (else Python's error); sorted for the
     * request as control.wait_for sends them */
    int wanted[NSTATES] = {0};
    char copy[256];
    if (strlen(a.states) >= sizeof(copy))
        return FALLBACK;
    strcpy(copy, a.states);
    for (char *item = copy, *next; item; item = next) {
        next = strchr(item, '|');
        if (next)
            *next++ = 0;
        size_t i;
        for (i = 0; i < NSTATES && strcmp(item, STATES[i]); i++)
            ;
        if (i == NSTATES)
            return FALLBACK;
        wanted[i] = 1;
    }
    long timeout = -1;
    if (a.timeout) {
        const char *digits = a.timeout[0] == '-' ? a.timeout + 1 : a.timeout;
        if (!*digits || strspn(digits, "0123456789") != strlen(digits) || strlen(digits) > 9)
            return FALLBACK;
        timeout = strtol(a.timeout, NULL, 10);
    }
    if (container_path(&a, lxcpath, sizeof(lxcpath)))
        return FALLBACK;
    int fd = connect_supervisor(lxcpath, a.name);
    if (fd < 0)
        return FALLBACK;
    /* -t 0: one look at the state (commands.state_of); else the wait's first answer, which is
     * the current state */
    char request[256];
    if (timeout == 0) {
        snprintf(request, sizeof(request), REQUEST(CMD_STATE) "}");
    } else {
        size_t n = (size_t)snprintf(request, sizeof(request), REQUEST(CMD_WAIT) ", \"states\": [");
        /* sorted() of the names: by their text */
        const char *sorted[NSTATES];
        size_t count = 0;
        for (size_t i = 0; i < NSTATES; i++)
            if (wanted[i])
                sorted[count++] = STATES[i];
        for (size_t i = 1; i < count; i++)
            for (size_t j = i; j > 0 && strcmp(sorted[j - 1], sorted[j]) > 0; j--) {
                const char *t = sorted[j];
                sorted[j] = sorted[j - 1];
                sorted[j - 1] = t;
            }
        for (size_t i = 0; i < count; i++)
            n += (size_t)snprintf(request + n, sizeof(request) - n, "%s\"%s\"", i ? ", " : "",
                                  sorted[i]);
        snprintf(request + n, sizeof(request) - n, "]}");
    }
    char *line;
    int got = ask(lxcpath, a.name, fd, request, &line);
    close(fd);
    if (got < 0)
        return FALLBACK;
    const char *end = NULL;
    const char *value = member(line, "state", &end); /* before end is read */
    const char *state = state_value(value, end);
    if (!state)
        return FALLBACK;
    for (size_t i = 0; i < NSTATES; i++)
        if (wanted[i] && !strcmp(state, STATES[i]))
            return 0;
    if (timeout == 0)
        return 1; /* not in the states, no wait asked: exit 1 (the log line is -o's only) */
    return FALLBACK;
}

/* ---- lxc-stop -k ---------------------------------------------------------------------- */

static int lxc_stop(int argc, char **argv)
{
    struct args a;
    char lxcpath[PATH_MAX];
    if (parse_args(argc, argv, STOP, &a) || !a.kill || container_path(&a, lxcpath, sizeof(lxcpath)))
        return FALLBACK; /* the clean halt reads the config and /proc: Python's */
    int fd = connect_supervisor(lxcpath, a.name);
    if (fd < 0)
        return FALLBACK; /* not running (exit 2), real LXC's, an orphan: Python says */
    char *line;
    int used = ask(lxcpath, a.name, fd, REQUEST(CMD_STOP) "}", &line);
    close(fd);
    if (used < 0)
        return FALLBACK; /* no answer: a dying supervisor (gone now), Python settles it */
    if (member(line, "error", NULL))
        return FALLBACK; /* refused (not our pid namespace): Python says it */
    if (a.nowait)
        return 0;
    /* control.wait_for(STOPPED, 10): the supervisor says STOPPED or goes away; its answer
     * is not the exit status (-k exits 0 either way) */
    fd = connect_supervisor(lxcpath, a.name);
    if (fd < 0)
        return 0;
    struct reader *r = &reader;
    r->fd = fd;
    r->have = 0;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    if (send_request(fd, REQUEST(CMD_WAIT) ", \"states\": [\"STOPPED\"]}") == 0) {
        for (;;) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            long spent = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
            if (spent >= KILL_WAIT * 1000)
                break;
            used = read_line(r, &line, (int)(KILL_WAIT * 1000 - spent));
            if (used < 0)
                break;
            const char *end = NULL;
            const char *value = member(line, "state", &end); /* before end is read */
            const char *state = state_value(value, end);
            if (state && !strcmp(state, "STOPPED"))
                break;
            consume_line(r, used);
        }
    }
    close(fd);
    return 0;
}

/* ---- lxc-ls --------------------------------------------------------------------------- */

/* a whole (small) file into a malloc'd NUL-terminated buffer; NULL when it cannot be read.
 * PATH relative to the directory fd DIR (AT_FDCWD: as open) */
static char *slurp_at(int dir, const char *path, size_t limit, size_t *size)
{
    int fd = openat(dir, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return NULL;
    size_t cap = 1 << 14, len = 0;
    char *data = malloc(cap);
    while (data) {
        if (len + 1 == cap) {
            if (cap >= limit) {
                free(data);
                data = NULL;
                break;
            }
            char *bigger = realloc(data, cap *= 2);
            if (!bigger) {
                free(data);
                data = NULL;
                break;
            }
            data = bigger;
        }
        ssize_t got = read(fd, data + len, cap - 1 - len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            free(data);
            data = NULL;
            break;
        }
        if (got == 0) {
            data[len] = 0;
            if (size)
                *size = len;
            break;
        }
        len += (size_t)got;
    }
    close(fd);
    return data;
}

/* paths.runtime_dir */
static int runtime_dir(char *out, size_t size)
{
    const char *value = getenv("LXCTOOLS_RUNDIR");
    if (value && *value)
        return snprintf(out, size, "%s", value) >= (int)size ? -1 : 0;
    if (geteuid() == 0)
        return snprintf(out, size, "/run") >= (int)size ? -1 : 0;
    value = getenv("XDG_RUNTIME_DIR");
    if (value && *value)
        return snprintf(out, size, "%s", value) >= (int)size ? -1 : 0;
    const char *home = getenv("HOME");
    if (!home || !*home)
        home = "/";
    return snprintf(out, size, "%s%s.cache/lxc/run", home,
                    home[strlen(home) - 1] == '/' ? "" : "/") >= (int)size ? -1 : 0;
}

/* a sorted list of names (strcmp: Python's sort of their bytes) */
struct names {
    char **items;
    size_t count, cap;
};

static int add_name(struct names *list, const char *name)
{
    if (list->count == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 64;
        char **bigger = realloc(list->items, cap * sizeof(char *));
        if (!bigger)
            return -1;
        list->items = bigger;
        list->cap = cap;
    }
    list->items[list->count] = strdup(name);
    return list->items[list->count++] ? 0 : -1;
}

static int by_bytes(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int has_name(const struct names *list, const char *name)
{
    return list->count && bsearch(&name, list->items, list->count, sizeof(char *), by_bytes);
}

/* api/listing.py defined_names: directories with a config (a regular file); a `partial`
 * marker anywhere means Python (it settles it), and so does anything Python names on
 * stderr: an lxcpath it cannot list (other than a missing one), a config that is not a
 * regular file or cannot be stat'ed; -1 for Python */
static int defined_names(const char *lxcpath, struct names *out)
{
    DIR *dir = opendir(lxcpath);
    if (!dir)
        return errno == ENOENT ? 0 : -1; /* a missing lxcpath lists nothing, as LXC's */
    struct dirent *entry;
    int result = 0;
    char path[PATH_MAX];
    struct stat st;
    while ((entry = readdir(dir))) {
        const char *name = entry->d_name;
        if (name[0] == '.')
            continue;
        if (!plain_ascii(name) ||
            snprintf(path, sizeof(path), "%s/%s/partial", lxcpath, name) >= (int)sizeof(path)) {
            result = -1;
            break;
        }
        if (stat(path, &st) == 0) {
            result = -1;
            break;
        }
        if (snprintf(path, sizeof(path), "%s/%s/config", lxcpath, name) >= (int)sizeof(path)) {
            result = -1;
            break;
        }
        if (stat(path, &st) != 0) {
            if (errno == ENOENT || errno == ENOTDIR)
                continue; /* not a container */
            result = -1; /* Python says why it cannot read it */
            break;
        }
        if (!S_ISREG(st.st_mode) || add_name(out, name)) {
            result = -1; /* a FIFO or a directory as config: Python names it */
            break;
        }
    }
    closedir(dir);
    if (!result)
        qsort(out->items, out->count, sizeof(char *), by_bytes);
    return result;
}

/* commands.is_temp_record: NAME.PID.tmp */
static int temp_record(const char *entry)
{
    size_t len = strlen(entry);
    if (len < 4 || strcmp(entry + len - 4, ".tmp"))
        return 0;
    const char *dot = NULL;
    for (const char *c = entry; c < entry + len - 4; c++)
        if (*c == '.')
            dot = c;
    if (!dot || dot == entry)
        return 0;
    size_t digits = (size_t)(entry + len - 4 - (dot + 1));
    return digits && strspn(dot + 1, "0123456789") >= digits;
}

/* commands.active_names: the records of LXCPATH's supervisors whose sockets listen (one
 * read of /proc/net/unix); -1 for Python: a record without its socket (a supervisor's death
 * to settle), a container of LXCPATH that real LXC's monitor may run */
static int active_names(const char *lxcpath, struct names *out)
{
    char dir[PATH_MAX], run[PATH_MAX];
    struct stat st;
    if (runtime_dir(run, sizeof(run)) || stat(lxcpath, &st) < 0)
        return -1;
    char text[64];
    int n = snprintf(text, sizeof(text), KEY_FORMAT, (unsigned long long)st.st_dev,
                     (unsigned long long)st.st_ino);
    if (snprintf(dir, sizeof(dir), "%s/lxctools/active/%016llx", run,
                 fnv64(text, (size_t)n)) >= (int)sizeof(dir))
        return -1;
    size_t size = 0;
    char *unix_table = slurp_at(AT_FDCWD, "/proc/net/unix", 1 << 28, &size);
    if (!unix_table)
        unix_table = strdup(""), size = 0; /* commands._listening: b"" */
    if (!unix_table)
        return -1;
    int result = 0;
    DIR *records = opendir(dir);
    struct dirent *entry;
    while (records && (entry = readdir(records))) {
        const char *name = entry->d_name;
        if (!strcmp(name, ".") || !strcmp(name, "..") || temp_record(name))
            continue;
        struct sockaddr_un addr;
        socklen_t len;
        if (!plain_name(name) || socket_address(lxcpath, name, &addr, &len) < 0) {
            result = -1;
            break;
        }
        addr.sun_path[0] = '@';
        size_t alen = len - offsetof(struct sockaddr_un, sun_path);
        if (!memmem(unix_table, size, addr.sun_path, alen)) {
            result = -1; /* recorded, not listening: Python settles it */
            break;
        }
        if (add_name(out, name)) {
            result = -1;
            break;
        }
    }
    if (records)
        closedir(records);
    if (!result)
        qsort(out->items, out->count, sizeof(char *), by_bytes);
    /* commands.lxc_run_names: a container of LXCPATH that real LXC's monitor runs (its
     * command socket, lxcsocket.address, listening) is Python's to list */
    char mark[PATH_MAX + 2];
    snprintf(mark, sizeof(mark), "@%s/", lxcpath);
    DIR *all = NULL;
    if (!result && (memmem(unix_table, size, mark, strlen(mark)) ||
                    memmem(unix_table, size, "@lxc/", 5)))
        all = opendir(lxcpath);
    while (all && (entry = readdir(all))) {
        const char *name = entry->d_name;
        if (!strcmp(name, ".") || !strcmp(name, "..") || has_name(out, name))
            continue;
        char address[PATH_MAX + 64];
        if (!plain_ascii(name)) {
            result = -1;
            break;
        }
        int n = snprintf(address, sizeof(address), "@%s/%s/command", lxcpath, name);
        if (n < 0 || n >= (int)sizeof(address)) {
            result = -1;
            break;
        }
        if (n - 1 >= LXC_SUN_PATH - 2) {
            /* the text between "@" and "/command", which fits: it came from it */
            memmove(address, address + 1, (size_t)n - 9);
            address[n - 9] = 0;
            unsigned long long hash = fnv64(address, strlen(address));
            snprintf(address, sizeof(address), "@lxc/%016llx/command", hash);
        }
        if (memmem(unix_table, size, address, strlen(address))) {
            result = -1;
            break;
        }
    }
    if (all)
        closedir(all);
    free(unix_table);
    return result;
}

/* api/listing.py quick_keys over the config at PATH: lxc.start.auto, lxc.group, lxc.idmap;
 * -1 where Python decides (lxc.include, a legacy key: the engine; bytes past ASCII) */
struct keys {
    char autostart[64];
    char groups[1024]; /* ", "-joined */
    int idmaps;
};

static int quick_keys(const char *path, struct keys *keys)
{
    memset(keys, 0, sizeof(*keys));
    size_t size;
    char *data = slurp_at(AT_FDCWD, path, 1 << 24, &size);
    if (!data)
        return 0; /* OSError: {} */
    int result = 0;
    for (size_t i = 0; i < size; i++)
        if ((unsigned char)data[i] >= 0x80 || !data[i])
            result = -1;
    for (char *line = data, *next; !result && line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        line += strspn(line, " \t");
        if (strncmp(line, "lxc.", 4)) {
            /* not a config line (blank, a comment, lxctools.*): the engine says what is
             * wrong, and where */
            if (line[strspn(line, " \t\r\v\f")] && line[0] != '#' &&
                strncmp(line, "lxctools.", 9))
                result = -1;
            continue;
        }
        char *eq = strchr(line, '=');
        char *kend = eq ? eq : line + strlen(line);
        while (kend > line && (kend[-1] == ' ' || kend[-1] == '\t'))
            kend--;
        size_t klen = (size_t)(kend - line);
        if ((klen == 11 && !strncmp(line, "lxc.include", 11)) ||
            (klen == 10 && !strncmp(line, "lxc.id_map", 10))) {
            result = -1;
            break;
        }
        if (!eq)
            continue;
        /* value.strip(b" \t\r\n"), then one pair of matching quotes */
        char *value = eq + 1, *vend = value + strlen(value);
        while (*value && strchr(" \t\r\n", *value))
            value++;
        while (vend > value && strchr(" \t\r\n", vend[-1]))
            vend--;
        if (vend - value > 1 && (*value == '\'' || *value == '"') && vend[-1] == *value) {
            value++;
            vend--;
        }
        *vend = 0;
        if (klen == 14 && !strncmp(line, "lxc.start.auto", 14)) {
            if (snprintf(keys->autostart, sizeof(keys->autostart), "%s", value) >=
                (int)sizeof(keys->autostart))
                result = -1;
        } else if (klen == 9 && !strncmp(line, "lxc.group", 9)) {
            if (!*value) {
                keys->groups[0] = 0;
                continue;
            }
            /* str.split(): runs of ASCII whitespace */
            static const char WS[] = " \t\n\r\v\f\x1c\x1d\x1e\x1f";
            for (char *word = value + strspn(value, WS); *word; word += strspn(word, WS)) {
                size_t wlen = strcspn(word, WS);
                size_t used = strlen(keys->groups);
                if (used + wlen + 3 >= sizeof(keys->groups)) {
                    result = -1;
                    break;
                }
                snprintf(keys->groups + used, sizeof(keys->groups) - used, "%s%.*s",
                         used ? ", " : "", (int)wlen, word);
                word += wlen;
            }
        } else if (klen == 9 && !strncmp(line, "lxc.idmap", 9)) {
            keys->idmaps = *value ? keys->idmaps + 1 : 0;
        }
    }
    free(data);
    return result;
}

/* api/verdict.py save_verdict: the config engine's verdict on NAME's config (one that
 * includes others), saved by Python; 0 with KEYS filled when every path it records stats
 * as recorded, -1 for Python (no verdict, a stale one, anything unexpected) */
#define VERDICT_MAGIC "lxctools-ls-verdict 1"

static int cached_keys(const char *lxcpath, const char *name, const char *config,
                       struct keys *keys)
{
    char run[PATH_MAX], path[PATH_MAX], text[64];
    struct stat st;
    memset(keys, 0, sizeof(*keys));
    if (runtime_dir(run, sizeof(run)) || stat(lxcpath, &st) < 0)
        return -1;
    int n = snprintf(text, sizeof(text), KEY_FORMAT, (unsigned long long)st.st_dev,
                     (unsigned long long)st.st_ino);
    if (snprintf(path, sizeof(path), "%s/lxctools/ls/%016llx/%s", run, fnv64(text, (size_t)n),
                 name) >= (int)sizeof(path))
        return -1;
    /* written by Python as this user (root: in /run): anything else is not ours to trust */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
        st.st_size > (1 << 20)) {
        close(fd);
        return -1;
    }
    close(fd);
    size_t size;
    char *data = slurp_at(AT_FDCWD, path, 1 << 20, &size);
    if (!data)
        return -1;
    int result = 0, stats = 0, have_auto = 0, have_idmap = 0;
    char *line = data, *next;
    if (strncmp(line, VERDICT_MAGIC "\n", sizeof(VERDICT_MAGIC)))
        result = -1;
    for (line = strchr(line, '\n'); !result && line && *++line; line = next) {
        next = strchr(line, '\n');
        if (!next) {
            result = -1; /* a line cut short: not what Python writes */
            break;
        }
        *next = 0;
        if (!strncmp(line, "auto", 4) && (!line[4] || line[4] == ' ')) {
            const char *value = line[4] ? line + 5 : "";
            if (have_auto++ || snprintf(keys->autostart, sizeof(keys->autostart), "%s",
                                        value) >= (int)sizeof(keys->autostart))
                result = -1;
        } else if (!strncmp(line, "group ", 6)) {
            size_t used = strlen(keys->groups);
            if (used + strlen(line + 6) + 3 >= sizeof(keys->groups))
                result = -1;
            else
                snprintf(keys->groups + used, sizeof(keys->groups) - used, "%s%s",
                         used ? ", " : "", line + 6);
        } else if (!strncmp(line, "idmap ", 6)) {
            char *end;
            long count = strtol(line + 6, &end, 10);
            if (have_idmap++ || *end || count < 0)
                result = -1;
            keys->idmaps = (int)count;
        } else if (!strncmp(line, "stat ", 5)) {
            unsigned long long mode, dev, ino, fsize, mtime, ctime;
            int used = 0;
            if (sscanf(line + 5, "%llu %llu %llu %llu %llu %llu %n", &mode, &dev, &ino, &fsize,
                       &mtime, &ctime, &used) != 6 || !used) {
                result = -1;
                break;
            }
            const char *file = line + 5 + used;
            /* the first path is the config itself */
            if ((!stats++ && strcmp(file, config)) || stat(file, &st) < 0 ||
                st.st_mode != mode || st.st_dev != dev || st.st_ino != ino ||
                (unsigned long long)st.st_size != fsize ||
                (unsigned long long)st.st_mtim.tv_sec * 1000000000ULL + st.st_mtim.tv_nsec != mtime ||
                (unsigned long long)st.st_ctim.tv_sec * 1000000000ULL + st.st_ctim.tv_nsec != ctime)
                result = -1;
        } else if (!strncmp(line, "error ", 6)) {
            char *end;
            long code = strtol(line + 6, &end, 10);
            if (!stats || *end != ' ' || code <= 0 || stat(end + 1, &st) == 0 || errno != code)
                result = -1;
        } else {
            result = -1;
        }
    }
    if (!stats || !have_auto || !have_idmap)
        result = -1;
    free(data);
    return result;
}

/* network/netinfo.py addresses: ", "-joined IPv4 (from fib_trie) and IPv6 (if_inet6) of the
 * /proc/PID directory DIR; -1 for Python (an address Python spells differently: IPv4 inside
 * IPv6) */
static int addresses(int dir, char *v4, size_t v4size, char *v6, size_t v6size)
{
    v4[0] = v6[0] = 0;
    if (dir < 0)
        return 0; /* init gone or another process: no address, as ProcDir */
    char *data = slurp_at(dir, "net/fib_trie", 1 << 26, NULL);
    char previous[64] = "";
    int result = 0;
    for (char *line = data, *next; data && line && !result; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        char *text = line + strspn(line, " \t\r\v\f");
        if (!strncmp(text, "|--", 3)) {
            char *value = text + 3;
            value += strspn(value, " \t\r\v\f");
            size_t len = strlen(value);
            while (len && strchr(" \t\r\v\f", value[len - 1]))
                len--;
            if (len >= sizeof(previous)) {
                result = -1;
                break;
            }
            memcpy(previous, value, len);
            previous[len] = 0;
        } else if (!strncmp(text, "/32 host LOCAL", 14) && previous[0] &&
                   strncmp(previous, "127.", 4)) {
            /* not already listed */
            size_t plen = strlen(previous);
            int seen = 0;
            for (char *at = v4; (at = strstr(at, previous)); at += plen)
                if ((at == v4 || at[-1] == ' ') && (at[plen] == ',' || at[plen] == 0))
                    seen = 1;
            if (!seen) {
                size_t used = strlen(v4);
                if (used + plen + 3 >= v4size)
                    result = -1;
                else
                    snprintf(v4 + used, v4size - used, "%s%s", used ? ", " : "", previous);
            }
        }
    }
    free(data);
    if (result)
        return -1;
    data = slurp_at(dir, "net/if_inet6", 1 << 24, NULL);
    for (char *line = data, *next; data && line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        char fields[6][64];
        int count = 0;
        for (char *word = line + strspn(line, " \t"); *word && count < 6;
             word += strspn(word, " \t")) {
            size_t wlen = strcspn(word, " \t");
            if (wlen >= sizeof(fields[0])) {
                free(data);
                return -1;
            }
            memcpy(fields[count], word, wlen);
            fields[count++][wlen] = 0;
            word += wlen;
        }
        if (count < 6 || !strcmp(fields[5], "lo") || !strcmp(fields[3], "20"))
            continue;
        unsigned char raw[16];
        if (strlen(fields[0]) != 32) {
            free(data);
            return -1;
        }
        for (int i = 0; i < 16; i++) {
            unsigned int byte;
            if (sscanf(fields[0] + 2 * i, "%2x", &byte) != 1) {
                free(data);
                return -1;
            }
            raw[i] = (unsigned char)byte;
        }
        static const unsigned char zeros[10] = {0};
        if (!memcmp(raw, zeros, 10)) {
            free(data);
            return -1; /* ::ffff:a.b.c.d and friends: inet_ntop and ipaddress differ */
        }
        char text[INET6_ADDRSTRLEN];
        if (!inet_ntop(AF_INET6, raw, text, sizeof(text))) {
            free(data);
            return -1;
        }
        size_t used = strlen(v6);
        if (used + strlen(text) + 3 >= v6size) {
            free(data);
            return -1;
        }
        snprintf(v6 + used, v6size - used, "%s%s", used ? ", " : "", text);
    }
    free(data);
    return 0;
}

/* cli/ls.py terminal_width: stdout's columns on a terminal, else 0 */
static int terminal_width(void)
{
    struct winsize size;
    if (!isatty(1) || ioctl(1, TIOCGWINSZ, &size) < 0)
        return 0;
    return size.ws_col;
}

#define LS_COLUMNS 7 /* listing.FANCY_DEFAULT */
static const char *const FANCY[LS_COLUMNS] = {
    "NAME", "STATE", "AUTOSTART", "GROUPS", "IPV4", "IPV6", "UNPRIVILEGED",
};

struct out {
    char *data;
    size_t len, cap;
};

static int put(struct out *o, const char *text, size_t len)
{
    if (o->len + len + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->len + len + 1)
            cap *= 2;
        char *bigger = realloc(o->data, cap);
        if (!bigger)
            return -1;
        o->data = bigger;
        o->cap = cap;
    }
    memcpy(o->data + o->len, text, len);
    o->len += len;
    return 0;
}

static int put_padded(struct out *o, const char *text, size_t width)
{
    size_t len = strlen(text);
    if (put(o, text, len))
        return -1;
    for (; len < width; len++)
        if (put(o, " ", 1))
            return -1;
    return 0;
}

/* one row of lxc-ls: its name, state and (with -f) addresses */
struct ls_row {
    const char *name;
    const char *state;
    struct keys keys; /* -f's config keys, read for every candidate as Python does */
    char v4[4096], v6[4096];
};

/* listing.live_info for NAME, one of the lxcpath's active ones: its state into ROW, and with
 * ADDRESSES its addresses; -1 for Python */
static int live_row(const char *lxcpath, struct ls_row *row_, int with_addresses)
{
    int fd = connect_supervisor(lxcpath, row_->name);
    char *line;
    if (fd < 0)
        return -1;
    int got = ask(lxcpath, row_->name, fd, REQUEST(CMD_INFO) ", \"stats\": false}", &line);
    close(fd);
    if (got < 0)
        return -1;
    const char *end = NULL;
    const char *value = member(line, "state", &end);
    if (!(row_->state = state_value(value, end)))
        return -1;
    if (!with_addresses || !strcmp(row_->state, "STOPPED"))
        return 0;
    long long pid = 0;
    value = member(line, "init_pid", &end);
    if (value && !is_null(value) && !integer(value, end, &pid))
        return -1;
    if (pid > 0) {
        int dir = proc_dir(pid, line);
        int failed = addresses(dir, row_->v4, sizeof(row_->v4), row_->v6, sizeof(row_->v6));
        if (dir >= 0)
            close(dir);
        if (failed)
            return -1;
    }
    return 0;
}

static int lxc_ls(int argc, char **argv)
{
    struct args a;
    char lxcpath[PATH_MAX];
    if (parse_args(argc, argv, LS, &a))
        return FALLBACK;
    if (a.lxcpath ? normalize_lxcpath(a.lxcpath, lxcpath, sizeof(lxcpath))
                  : default_lxcpath(lxcpath, sizeof(lxcpath)))
        return FALLBACK;
    if (!plain_ascii(lxcpath))
        return FALLBACK;
    struct names known = {0}, active = {0}, all = {0};
    if (defined_names(lxcpath, &known) || active_names(lxcpath, &active))
        return FALLBACK;
    /* listing.list_containers: --active and --frozen list the active ones, --defined the
     * defined ones, anything else sorted(known | actives) */
    int only_active = a.f_active || a.f_frozen;
    for (size_t i = 0; !only_active && i < known.count; i++)
        if (add_name(&all, known.items[i]))
            return FALLBACK;
    for (size_t i = 0; (only_active || !a.f_defined) && i < active.count; i++)
        if ((only_active || !has_name(&known, active.items[i])) &&
            add_name(&all, active.items[i]))
            return FALLBACK;
    qsort(all.items, all.count, sizeof(char *), by_bytes);
    int need_state = a.fancy || a.f_running || a.f_stopped || a.f_frozen || a.f_active;
    struct ls_row *rows = calloc(all.count ? all.count : 1, sizeof(*rows));
    size_t nrows = 0;
    if (!rows)
        return FALLBACK;
    for (size_t i = 0; i < all.count; i++) {
        struct ls_row *r = &rows[nrows];
        r->name = all.items[i];
        r->state = "STOPPED";
        if (a.f_defined && !has_name(&known, r->name))
            continue;
        char path[PATH_MAX];
        if (a.fancy &&
            (snprintf(path, sizeof(path), "%s/%s/config", lxcpath, r->name) >= (int)sizeof(path) ||
             (quick_keys(path, &r->keys) && cached_keys(lxcpath, r->name, path, &r->keys))))
            return FALLBACK; /* a config Python reads with a word on stderr */
        if (need_state && has_name(&active, r->name) && live_row(lxcpath, r, a.fancy))
            return FALLBACK;
        if (a.f_stopped && strcmp(r->state, "STOPPED"))
            continue;
        if ((a.f_running || a.f_active) && !strcmp(r->state, "STOPPED"))
            continue;
        if (a.f_frozen && !a.f_active && strcmp(r->state, "FROZEN"))
            continue;
        nrows++;
    }
    struct out o = {0};
    if (!a.fancy) {
        /* cli/ls.py format_names */
        size_t pad = 0;
        for (size_t i = 0; i < nrows; i++)
            if (strlen(rows[i].name) > pad)
                pad = strlen(rows[i].name);
        int width = a.line ? 0 : terminal_width();
        size_t used = 0;
        for (size_t i = 0; i < nrows; i++) {
            const char *name = rows[i].name;
            if (a.line) {
                if (put(&o, name, strlen(name)) || put(&o, "\n", 1))
                    return FALLBACK;
                continue;
            }
            if (put_padded(&o, name, pad))
                return FALLBACK;
            used += pad;
            if ((long)(used + pad) >= (long)width) {
                if (put(&o, "\n", 1))
                    return FALLBACK;
                used = 0;
            } else {
                if (put(&o, " ", 1))
                    return FALLBACK;
                used++;
            }
        }
        if (used && put(&o, "\n", 1))
            return FALLBACK;
        if (o.len)
            write_all(1, o.data, o.len);
        return 0;
    }
    /* -f: cli/ls.py format_fancy over listing.list_containers' rows */
    char *(*cells)[LS_COLUMNS] = calloc(nrows ? nrows : 1, sizeof(*cells));
    if (!cells)
        return FALLBACK;
    for (size_t r = 0; r < nrows; r++) {
        const struct keys keys = rows[r].keys;
        const char *name = rows[r].name;
        const char *values[LS_COLUMNS] = {
            name, rows[r].state, keys.autostart[0] ? keys.autostart : "0",
            keys.groups[0] ? keys.groups : "-", rows[r].v4[0] ? rows[r].v4 : "-",
            rows[r].v6[0] ? rows[r].v6 : "-", keys.idmaps ? "true" : "false",
        };
        for (int c = 0; c < LS_COLUMNS; c++)
            if (!(cells[r][c] = strdup(values[c])))
                return FALLBACK;
    }
    if (nrows) { /* like LXC, no rows: not even the header */
        size_t widths[LS_COLUMNS];
        for (int c = 0; c < LS_COLUMNS; c++) {
            widths[c] = strlen(FANCY[c]);
            for (size_t r = 0; r < nrows; r++)
                if (strlen(cells[r][c]) > widths[c])
                    widths[c] = strlen(cells[r][c]);
        }
        for (size_t r = 0; r <= nrows; r++) {
            for (int c = 0; c < LS_COLUMNS; c++)
                if (put_padded(&o, r ? cells[r - 1][c] : FANCY[c], widths[c]) || put(&o, " ", 1))
                    return FALLBACK;
            if (put(&o, "\n", 1))
                return FALLBACK;
        }
        write_all(1, o.data, o.len);
    }
    return 0;
}

/* ---- lxc-start -d ---------------------------------------------------------------------- */

/* lxcsocket.address: does something listen at LXC's command socket of NAME (real LXC's
 * monitor, or ours, which serves LXC's protocol too)? Python then asks it the state */
static int lxc_listens(const char *lxcpath, const char *name)
{
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    char path[PATH_MAX + MAX_NAME + 16];
    int n = snprintf(path, sizeof(path), "%s/%s/command", lxcpath, name);
    if (n < 0 || n >= (int)sizeof(path))
        return 1;
    if (n >= LXC_SUN_PATH - 2) {
        path[n - 8] = 0; /* LXCPATH/NAME */
        n = snprintf(path, sizeof(path), "lxc/%016llx/command", fnv64(path, strlen(path)));
    }
    memcpy(addr.sun_path + 1, path, (size_t)n);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return 1;
    int there = connect(fd, (struct sockaddr *)&addr,
                        (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n)) == 0 ||
                errno == EAGAIN;
    close(fd);
    return there;
}

/* BINDIR/lxctools, the Python tool's console script beside this program; -1 when it does
 * not fit */
static int python_script(char *path, size_t size)
{
    const char *slash = strrchr(self_exe, '/');
    size_t bindir = slash ? (size_t)(slash - self_exe) + 1 : 0;
    return snprintf(path, size, "%.*slxctools", (int)bindir, self_exe) >= (int)size ? -1 : 0;
}

/* pip's console script for cli/about.py's main (pip and distlib write this text after the
 * "#!INTERPRETER" line): only such a script is run as SUPERVISE_PROGRAM, never one that a
 * packager or a test wrote with logic of its own */
#define PIP_LAUNCHER \
    "# -*- coding: utf-8 -*-\n" \
    "import re\n" \
    "import sys\n" \
    "from lxctools.cli.about import main\n" \
    "if __name__ == '__main__':\n" \
    "    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n" \
    "    sys.exit(main())\n"

/* The interpreter of SCRIPT into OUT when SCRIPT is pip's launcher (PIP_LAUNCHER) behind a
 * "#!" line that names an absolute path alone; -1 otherwise (flags after it, an sh
 * trampoline for a path with spaces, any other script: it then runs as it is) */
static int script_interpreter(const char *script, char *out, size_t size)
{
    char head[PATH_MAX + sizeof(PIP_LAUNCHER) + 4];
    int fd = open(script, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t got = read(fd, head, sizeof(head) - 1);
    close(fd);
    if (got < 4 || head[0] != '#' || head[1] != '!')
        return -1;
    head[got] = 0;
    char *end = strchr(head, '\n');
    if (!end || strcmp(end + 1, PIP_LAUNCHER))
        return -1;
    *end = 0;
    const char *path = head + 2;
    size_t len = (size_t)(end - path);
    if (path[0] != '/' || strpbrk(path, " \t\r") || len >= size)
        return -1;
    memcpy(out, path, len + 1);
    return 0;
}

/* daemon.spawn, for a start that found no supervisor: fork the lxcpath's supervisor, as the
 * Python tool's child does it -- out of the caller's session and terminal (setsid), in /,
 * stdio on /dev/null, no other descriptor of the caller's, SIGINT as the caller had it, the
 * caller's environment, limits and cgroup (it moves itself: cgroups/monitor.py) -- but as a
 * new interpreter (`lxctools --supervise LXCPATH`; its interpreter with -S and
 * SUPERVISE_PROGRAM when the script names it alone) rather than a fork of this one, and
 * return once it listens or lost the race to another (which then listens: the caller
 * connects again either way). 0, or -1 when no child could be made. */
static int spawn_supervisor(const char *lxcpath)
{
    char path[PATH_MAX], interpreter[PATH_MAX];
    int pipefd[2];
    if (python_script(path, sizeof(path)) || pipe2(pipefd, O_CLOEXEC) < 0)
        return -1;
    int direct = script_interpreter(path, interpreter, sizeof(interpreter)) == 0;
    pid_t pid = fork();
    if (pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return -1;
    }
    if (pid == 0) {
        char *args[] = {"lxctools", SUPERVISE, (char *)lxcpath, NULL};
        sigaction(SIGINT, &caller_sigint, NULL);
        /* the ready end above stdio first: with a closed stdin the pipe may have taken 0;
         * /dev/null without O_CLOEXEC: it may land on 0-2 itself, where dup2 keeps flags */
        int ready = fcntl(pipefd[1], F_DUPFD, READY_FD + 1);
        int null = open("/dev/null", O_RDWR);
        if (ready < 0 || null < 0 || setsid() < 0 || chdir("/") < 0)
            _exit(127);
        for (int fd = 0; fd <= 2; fd++)
            if (dup2(null, fd) < 0)
                _exit(127);
        if (dup2(ready, READY_FD) < 0)
            _exit(127);
        /* nothing else of the caller's: the Python side closes the same range again */
#ifdef SYS_close_range
        if (syscall(SYS_close_range, READY_FD + 1, ~0u, 0) < 0)
#endif
        {
            long most = sysconf(_SC_OPEN_MAX);
            for (long fd = READY_FD + 1; fd < (most > 0 ? most : 65536); fd++)
                close((int)fd);
        }
        if (direct) {
            char *fast[] = {interpreter, "-S", "-c", SUPERVISE_PROGRAM, SUPERVISE,
                            (char *)lxcpath, NULL};
            execv(interpreter, fast);
        }
        execv(path, args);
        _exit(127);
    }
    close(pipefd[1]);
    char byte;
    ssize_t got;
    do
        got = read(pipefd[0], &byte, 1);
    while (got < 0 && errno == EINTR);
    close(pipefd[0]);
    /* one that gave up (another won the bind, or it could not run) is exiting: reaped here */
    while (waitpid(pid, NULL, got == 1 ? WNOHANG : 0) < 0 && errno == EINTR)
        ;
    return 0;
}

/* connect to the lxcpath's supervisor at ADDR: the socket, or -1 (errno: ECONNREFUSED when
 * none listens there) */
static int connect_daemon(const struct sockaddr_un *addr, socklen_t addrlen)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (const struct sockaddr *)addr, addrlen) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* Container.start in the background: send the lxcpath's supervisor the start as Python would
 * and wait for its answer. A plain success (no warning) is the whole answer; anything else --
 * an error, warnings -- goes to the Python tool with the answer in START_ANSWER_ENV, for it
 * to say in its words (it must not ask again: the container may be running now). No
 * supervisor: spawn one first (spawn_supervisor), as Python would. */
static int lxc_start(int argc, char **argv)
{
    struct args a;
    char lxcpath[PATH_MAX];
    if (parse_args(argc, argv, START, &a) || container_path(&a, lxcpath, sizeof(lxcpath)))
        return FALLBACK;
    if (getenv(START_ANSWER_ENV))
        return FALLBACK; /* an answer in the caller's environment: Python says what it says */
    if (strlen(a.name) > MAX_NEW_NAME)
        return FALLBACK; /* check_new_name's error */
    for (const char *c = a.name; *c; c++)
        if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20 || *c == 0x7f)
            return FALLBACK; /* JSON would escape it: Python sends it */
    if (lxc_listens(lxcpath, a.name))
        return FALLBACK;
    struct stat st;
    char text[64];
    if (stat(lxcpath, &st) < 0)
        return FALLBACK;
    int n = snprintf(text, sizeof(text), KEY_FORMAT, (unsigned long long)st.st_dev,
                     (unsigned long long)st.st_ino);
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    n = snprintf(addr.sun_path + 1, sizeof(addr.sun_path) - 1, DAEMON_FORMAT,
                 fnv64(text, (size_t)n));
    socklen_t addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
    int fd = connect_daemon(&addr, addrlen);
    if (fd < 0) {
        /* daemon.connect's "none there" (anything else -- a full queue -- is Python's) */
        if (errno != ECONNREFUSED && errno != ENOENT)
            return FALLBACK;
        if (spawn_supervisor(lxcpath) < 0 || (fd = connect_daemon(&addr, addrlen)) < 0)
            return FALLBACK; /* Python spawns, or says why it cannot */
    }
    static char request[1024];
    n = snprintf(request, sizeof(request),
                 REQUEST("start") ", \"name\": \"%s\", \"options\": " START_OPTIONS "}\n",
                 a.name);
    char *line;
    reader.fd = fd;
    reader.have = 0;
    int got = n > 0 && n < (int)sizeof(request) &&
                      send_line(fd, request, (size_t)n) == 0
                  ? read_line(&reader, &line, -1)
                  : -1;
    close(fd);
    if (got < 0)
        return FALLBACK; /* the supervisor went away: Python tries again, as it does */
    const char *end = NULL;
    const char *ok = member(line, "ok", &end);
    const char *warnings = member(line, "warnings", NULL);
    if (ok && end - ok == 4 && !strncmp(ok, "true", 4) && !member(line, "error", NULL) &&
        warnings && *warnings == '[' && *skip_ws(warnings + 1) == ']')
        return 0; /* Python's log.info of the start goes to -o's file alone: none here */
    if (setenv(START_ANSWER_ENV, line, 1) < 0)
        return 1;
    return FALLBACK;
}

/* ---- lxc-attach ------------------------------------------------------------------------ */

/* The supervisor's half of the plan (attach/facts.py) plus the caller's own (argv, env, cwd,
 * terminal), handed to the entry helper exactly as attach/attach.py hands it (spawn/entry.py
 * describes the plan); then the command's status, its terminal relayed, as attach.py does. */

/* spawn/entry.py: the plan's header and the caller's tags */
#define PLAN_MAGIC "LXEP"
#define PLAN_VERSION 3
#define TAG_TTY 4
#define TAG_TARGET_IDS 7
#define TAG_CWD 10
#define TAG_ENV 11
#define TAG_ARG 12
#define TAG_WINSIZE 16
#define PLAN_CHUNK 60000
/* attach.py DEFAULT_PATH: --clear-env's PATH when the caller keeps none */
#define ATTACH_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define CMD_ATTACH "attach"
#define MAX_ATTACH_FDS 16
/* kernel/libc.py JOIN_ORDER: the namespaces whose inodes the caller sends */
static const char *const NS_NAMES[] = {"user", "cgroup", "ipc", "uts", "net", "pid", "time", "mnt"};

struct buf {
    char *data;
    size_t len, cap;
};

static int buf_add(struct buf *b, const void *data, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 4096);
        while (cap < b->len + len + 1)
            cap *= 2;
        char *more = realloc(b->data, cap);
        if (!more)
            return -1;
        b->data = more;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = 0;
    return 0;
}

/* entry.py _record: u32 tag, u32 length, value, zeros to a multiple of 8 */
static int record(struct buf *b, unsigned tag, const void *value, size_t len)
{
    static const char zeros[8];
    uint32_t head[2] = {tag, (uint32_t)len};
    return buf_add(b, head, sizeof(head)) || buf_add(b, value, len) ||
           buf_add(b, zeros, (8 - len % 8) % 8);
}

static int b64_value(int c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* the base64 JSON string at VALUE (a member's value) decoded into OUT; -1 when it is none */
static int b64_member(const char *obj, const char *key, struct buf *out)
{
    const char *end;
    const char *value = member(obj, key, &end);
    memset(out, 0, sizeof(*out));
    if (!value || *value != '"' || buf_add(out, "", 0))
        return -1;
    unsigned acc = 0;
    int bits = 0;
    for (const char *p = value + 1; p < end - 1; p++) {
        if (*p == '=')
            break;
        int v = b64_value((unsigned char)*p);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            char c = (char)((acc >> bits) & 0xff);
            if (buf_add(out, &c, 1))
                return -1;
        }
    }
    return 0;
}

struct attach_args {
    const char *name, *lxcpath;
    int elevated; /* bits: 1 CAP, 2 CGROUP, 4 LSM */
    int clear_env;
    const char *keep[64];
    int nkeep;
    const char *set[64];
    int nset;
    long long uid, gid; /* -1: not given */
    char **command;
    int ncommand;
};

/* attach.py parse_elevated: "" is all of them */
static int elevated_bits(const char *text)
{
    if (!*text)
        return 7;
    int bits = 0;
    for (const char *p = text;;) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == 3 && !strncmp(p, "CAP", 3))
            bits |= 1;
        else if (n == 6 && !strncmp(p, "CGROUP", 6))
            bits |= 2;
        else if (n == 3 && !strncmp(p, "LSM", 3))
            bits |= 4;
        else
            return -1; /* Python's error */
        if (!bar)
            return bits;
        p = bar + 1;
    }
}

static int id_value(const char *text, long long *out)
{
    if (!*text || strspn(text, "0123456789") != strlen(text) || strlen(text) > 10)
        return -1;
    *out = strtoll(text, NULL, 10);
    return *out < 4294967295LL ? 0 : -1;
}

/* cli/attach.py's forms: options first (each value option at most once, no value that
 * starts with "-", no abbreviation), then the command: after "--", or plain words once -n
 * is given (no word that starts with "-" among them). Anything else is Python's. */
static int parse_attach(int argc, char **argv, struct attach_args *a)
{
    memset(a, 0, sizeof(*a));
    a->uid = a->gid = -1;
    static char *words[4096];
    int i = 1;
    for (; i < argc; i++) {
        const char *w = argv[i];
        const char *value = NULL;
        if (!strcmp(w, "--")) {
            i++;
            break;
        }
        if (w[0] != '-') {
            if (!a->name)
                return FALLBACK; /* the name as a word: parse()'s rule */
            break;
        }
        if (!strcmp(w, "-e") || !strcmp(w, "--elevated-privileges")) {
            a->elevated = 7;
            continue;
        }
        if (!strncmp(w, "-e", 2) || !strncmp(w, "--elevated-privileges=", 22)) {
            int bits = elevated_bits(w[1] == 'e' ? w + 2 : w + 22);
            if (bits < 0)
                return FALLBACK;
            a->elevated = bits;
            continue;
        }
        if (!strcmp(w, "--clear-env")) {
            a->clear_env = 1;
            continue;
        }
        if (!strcmp(w, "--keep-env"))
            continue;
        static const char *const VALUED[] = {"-n", "--name", "-P", "--lxcpath", "-v", "--set-var",
                                             "--keep-var", "-u", "--uid", "-g", "--gid", NULL};
        const char *opt = NULL;
        for (int k = 0; VALUED[k]; k++) {
            size_t len = strlen(VALUED[k]);
            if (!strcmp(w, VALUED[k])) {
                if (i + 1 >= argc)
                    return FALLBACK;
                opt = VALUED[k];
                value = argv[++i];
                break;
            }
            if (VALUED[k][1] == '-' && !strncmp(w, VALUED[k], len) && w[len] == '=') {
                opt = VALUED[k];
                value = w + len + 1;
                break;
            }
        }
        if (!opt || !*value || value[0] == '-')
            return FALLBACK;
        if (!strcmp(opt, "-n") || !strcmp(opt, "--name")) {
            if (a->name)
                return FALLBACK;
            a->name = value;
        } else if (!strcmp(opt, "-P") || !strcmp(opt, "--lxcpath")) {
            if (a->lxcpath)
                return FALLBACK;
            a->lxcpath = value;
        } else if (!strcmp(opt, "-v") || !strcmp(opt, "--set-var")) {
            if (a->nset == 64)
                return FALLBACK;
            a->set[a->nset++] = value;
        } else if (!strcmp(opt, "--keep-var")) {
            if (a->nkeep == 64)
                return FALLBACK;
            a->keep[a->nkeep++] = value;
        } else if (!strcmp(opt, "-u") || !strcmp(opt, "--uid")) {
            if (a->uid >= 0 || id_value(value, &a->uid))
                return FALLBACK;
        } else {
            if (a->gid >= 0 || id_value(value, &a->gid))
                return FALLBACK;
        }
    }
    if (!a->name)
        return FALLBACK;
    int n = 0;
    int dashdash = i > 1 && !strcmp(argv[i - 1], "--");
    for (; i < argc; i++) {
        if (!dashdash && !strcmp(argv[i], "--")) {
            dashdash = 1;
            continue;
        }
        if (!dashdash && argv[i][0] == '-')
            return FALLBACK; /* argparse would take it as an option */
        if (n == (int)(sizeof(words) / sizeof(words[0])) - 1)
            return FALLBACK;
        words[n++] = argv[i];
    }
    words[n] = NULL;
    a->command = words;
    a->ncommand = n;
    return 0;
}

/* ---- the command's environment: attach.py environment() over Python's os.environ ---- */

struct env {
    char *entries[8192]; /* "KEY=VALUE", each malloc'd or borrowed */
    int n;
};

static int env_find(const struct env *e, const char *key, size_t klen)
{
    for (int i = 0; i < e->n; i++)
        if (!strncmp(e->entries[i], key, klen) && e->entries[i][klen] == '=')
            return i;
    return -1;
}

/* env[KEY] = VALUE: in place when KEY is there, else at the end (a dict's order) */
static int env_set(struct env *e, const char *key, size_t klen, const char *value)
{
    size_t vlen = strlen(value);
    char *entry = malloc(klen + vlen + 2);
    if (!entry)
        return -1;
    memcpy(entry, key, klen);
    entry[klen] = '=';
    memcpy(entry + klen + 1, value, vlen + 1);
    int at = env_find(e, key, klen);
    if (at >= 0) {
        e->entries[at] = entry;
        return 0;
    }
    if (e->n == (int)(sizeof(e->entries) / sizeof(e->entries[0])))
        return -1;
    e->entries[e->n++] = entry;
    return 0;
}

static void env_pop(struct env *e, const char *key, size_t klen)
{
    int at = env_find(e, key, klen);
    if (at < 0)
        return;
    memmove(e->entries + at, e->entries + at + 1, (size_t)(e->n - at - 1) * sizeof(char *));
    e->n--;
}

/* Python's os.environ: the process's environment after CPython's C-locale coercion (PEP
 * 538: LC_CTYPE=C.UTF-8 set when LC_CTYPE is the C locale and LC_ALL is not set), each key
 * once (the first wins), entries without "=" left out; -1 when Python must decide */
static int python_environ(struct env *out)
{
    extern char **environ;
    out->n = 0;
    const char *coerce = getenv("PYTHONCOERCECLOCALE");
    const char *all = getenv("LC_ALL");
    int coerced = 0;
    if (coerce)
        return -1; /* its warnings and rules are Python's */
    const char *name = getenv("LC_CTYPE");
    if (!name || !*name)
        name = getenv("LANG");
    /* C.UTF-8 (the usual one here): no coercion, whether the system has it or not (then
     * Python's C.UTF-8 and C.utf8 fail too); no locale files read to learn that */
    int plain_utf8 = name && (!strcmp(name, "C.UTF-8") || !strcmp(name, "C.utf8"));
    if ((!all || !*all) && !plain_utf8) {
        const char *ctype = setlocale(LC_CTYPE, "");
        if (!ctype || !strcmp(ctype, "C") || !strcmp(ctype, "POSIX")) {
            if (!setlocale(LC_CTYPE, "C.UTF-8"))
                return -1;
            coerced = 1;
        }
        setlocale(LC_CTYPE, "C");
    }
    int replaced = 0;
    for (char **e = environ; *e; e++) {
        char *eq = strchr(*e, '=');
        if (!eq)
            continue;
        size_t klen = (size_t)(eq - *e);
        char *entry = *e;
        if (coerced && !replaced && klen == 8 && !strncmp(*e, "LC_CTYPE", 8)) {
            entry = "LC_CTYPE=C.UTF-8"; /* setenv replaces the first in place */
            replaced = 1;
        }
        if (env_find(out, *e, klen) >= 0)
            continue;
        if (out->n == (int)(sizeof(out->entries) / sizeof(out->entries[0])))
            return -1;
        out->entries[out->n++] = entry;
    }
    if (coerced && !replaced && env_set(out, "LC_CTYPE", 8, "C.UTF-8"))
        return -1;
    return 0;
}

static const char *env_get(const struct env *e, const char *key, size_t klen)
{
    int at = env_find(e, key, klen);
    return at < 0 ? NULL : e->entries[at] + klen + 1;
}

/* attach.py environment(): CONFIGURED is lxc.environment (+ .runtime) of the container's
 * config, NUL-separated */
static int attach_environment(const struct attach_args *a, const struct buf *configured,
                              struct env *env)
{
    static struct env caller;
    if (python_environ(&caller))
        return -1;
    env->n = 0;
    if (a->clear_env) {
        for (int i = 0; i < a->nkeep; i++) {
            const char *value = env_get(&caller, a->keep[i], strlen(a->keep[i]));
            if (value && env_find(env, a->keep[i], strlen(a->keep[i])) < 0 &&
                env_set(env, a->keep[i], strlen(a->keep[i]), value))
                return -1;
        }
        if (env_find(env, "PATH", 4) < 0 && env_set(env, "PATH", 4, ATTACH_DEFAULT_PATH))
            return -1;
    } else {
        memcpy(env->entries, caller.entries, (size_t)caller.n * sizeof(char *));
        env->n = caller.n;
    }
    if (env_set(env, "container", 9, "lxc"))
        return -1;
    for (size_t off = 0; off < configured->len;) {
        const char *entry = configured->data + off;
        size_t len = strlen(entry);
        off += len + 1;
        const char *eq = strchr(entry, '=');
        if (eq) {
            if (env_set(env, entry, (size_t)(eq - entry), eq + 1))
                return -1;
        } else {
            const char *value = env_get(&caller, entry, len);
            if (env_set(env, entry, len, value ? value : ""))
                return -1;
        }
    }
    for (int i = 0; i < a->nset; i++) {
        const char *eq = strchr(a->set[i], '=');
        if (eq) {
            if (env_set(env, a->set[i], (size_t)(eq - a->set[i]), eq + 1))
                return -1;
        } else {
            env_pop(env, a->set[i], strlen(a->set[i]));
        }
    }
    return 0;
}

/* the config files as the supervisor read them still stat the same in our view (lxc-ls's
 * verdict lines: "stat MODE DEV INO SIZE MTIME CTIME PATH" or "error ERRNO PATH") */
static int files_unchanged(char *lines)
{
    struct stat st;
    int count = 0;
    for (char *line = lines, *next; *line; line = next + 1) {
        next = strchr(line, '\n');
        if (!next)
            return -1;
        *next = 0;
        if (!strncmp(line, "stat ", 5)) {
            unsigned long long mode, dev, ino, fsize, mtime, ctime;
            int used = 0;
            if (sscanf(line + 5, "%llu %llu %llu %llu %llu %llu %n", &mode, &dev, &ino, &fsize,
                       &mtime, &ctime, &used) != 6 || !used)
                return -1;
            const char *file = line + 5 + used;
            if (stat(file, &st) < 0 || st.st_mode != mode || st.st_dev != dev ||
                st.st_ino != ino || (unsigned long long)st.st_size != fsize ||
                (unsigned long long)st.st_mtim.tv_sec * 1000000000ULL + st.st_mtim.tv_nsec != mtime ||
                (unsigned long long)st.st_ctim.tv_sec * 1000000000ULL + st.st_ctim.tv_nsec != ctime)
                return -1;
        } else if (!strncmp(line, "error ", 6)) {
            char *end;
            long code = strtol(line + 6, &end, 10);
            if (*end != ' ' || code <= 0 || stat(end + 1, &st) == 0 || errno != code)
                return -1;
        } else {
            return -1;
        }
        count++;
    }
    return count ? 0 : -1;
}

/* one request with FDS attached, and the first line of the answer with the fds that came
 * with it (close-on-exec); the line's length, or -1 */
static int ask_with_fds(int fd, const char *request, int *send_fds, int nsend, char **line,
                        int *fds, int *nfds)
{
    char control[CMSG_SPACE(sizeof(int) * MAX_ATTACH_FDS)];
    struct iovec iov = {(void *)request, strlen(request)};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    memset(control, 0, sizeof(control));
    if (nsend) {
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nsend);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nsend);
        memcpy(CMSG_DATA(c), send_fds, sizeof(int) * (size_t)nsend);
    }
    if (sendmsg(fd, &msg, MSG_NOSIGNAL) != (ssize_t)iov.iov_len)
        return -1;
    reader.fd = fd;
    reader.have = 0;
    *nfds = 0;
    for (;;) {
        char *nl = memchr(reader.buf, '\n', reader.have);
        if (nl) {
            *nl = 0;
            *line = reader.buf;
            return (int)(nl - reader.buf) + 1;
        }
        if (reader.have == sizeof(reader.buf))
            return -1;
        struct iovec in = {reader.buf + reader.have, sizeof(reader.buf) - reader.have};
        struct msghdr rmsg = {.msg_iov = &in, .msg_iovlen = 1, .msg_control = control,
                              .msg_controllen = sizeof(control)};
        ssize_t got = recvmsg(fd, &rmsg, MSG_CMSG_CLOEXEC);
        if (got < 0 && errno == EINTR)
            continue;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&rmsg); c; c = CMSG_NXTHDR(&rmsg, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                continue;
            int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            for (int k = 0; k < count; k++) {
                int received;
                memcpy(&received, CMSG_DATA(c) + (size_t)k * sizeof(int), sizeof(int));
                if (*nfds < MAX_ATTACH_FDS)
                    fds[(*nfds)++] = received;
                else
                    close(received);
            }
        }
        if (got <= 0 || (rmsg.msg_flags & MSG_CTRUNC))
            return -1;
        reader.have += (size_t)got;
    }
}

static void close_all(int *fds, int n)
{
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

/* attach.py _wait: 128+N for a signal N */
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#define CGROUP2_MAGIC 0x63677270

/* struct clone_args up to .cgroup (CLONE_ARGS_SIZE_VER2), as <linux/sched.h> has it */
struct birth_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls,
        set_tid, set_tid_size, cgroup;
};

/* Fork the attach's transient (0 in the child, -1 on failure) in its cgroups, setting
 * *BORN, when it can: in the cgroup2 one of DIRS (a NUL-separated list) by clone3's
 * CLONE_INTO_CGROUP, in each v1 one by the child itself, writing "0" to `tasks` (a thread
 * moving itself takes no global lock), before it execs; a child that cannot says why on
 * REPORT (the helper's channel: "E" text, NUL, hint) and exits. Else a plain fork, *BORN 0:
 * the caller moves it. This program has one thread, so a raw clone3 is as safe as fork. */
static pid_t born_in_cgroups(const struct buf *dirs, int *born, int report)
{
    int cgroup2 = -1, n2 = 0;
    for (size_t off = 0; off < dirs->len; off += strlen(dirs->data + off) + 1) {
        struct statfs fs;
        if (statfs(dirs->data + off, &fs) == 0 && fs.f_type == CGROUP2_MAGIC && !n2++)
            cgroup2 = open(dirs->data + off, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    *born = 0;
    if (n2 > 1 || (n2 == 1 && cgroup2 < 0)) {
        if (cgroup2 >= 0)
            close(cgroup2);
        return fork();
    }
    struct birth_args args = {.flags = cgroup2 >= 0 ? CLONE_INTO_CGROUP : 0,
                              .exit_signal = SIGCHLD,
                              .cgroup = cgroup2 >= 0 ? (uint64_t)cgroup2 : 0};
    pid_t pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
    if (pid < 0) {
        if (cgroup2 >= 0)
            close(cgroup2);
        return fork(); /* an older kernel, a filter: moved by the caller */
    }
    if (pid == 0) {
        for (size_t off = 0; off < dirs->len; off += strlen(dirs->data + off) + 1) {
            struct statfs fs;
            if (statfs(dirs->data + off, &fs) == 0 && fs.f_type == CGROUP2_MAGIC)
                continue;
            char path[PATH_MAX];
            snprintf(path, sizeof(path), "%s/tasks", dirs->data + off);
            int fd = open(path, O_WRONLY | O_CLOEXEC);
            if (fd < 0 || write(fd, "0", 1) != 1) {
                char said[PATH_MAX + 128];
                int n = snprintf(said, sizeof(said), "Ecannot move into the cgroup %s: %s%c",
                                 dirs->data + off, strerror(errno), 0);
                if (n > 0)
                    (void)!send(report, said, (size_t)n + 1, MSG_NOSIGNAL);
                _exit(1);
            }
            close(fd);
        }
        if (cgroup2 >= 0)
            close(cgroup2);
        return 0;
    }
    if (cgroup2 >= 0)
        close(cgroup2);
    *born = 1;
    return pid;
}

static int wait_code(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return 1;
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

static int send_fd_msg(int sock, const char *data, size_t len, int fd)
{
    char control[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {(void *)data, len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                         .msg_controllen = sizeof(control)};
    memset(control, 0, sizeof(control));
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    return sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

/* entry.py send_plan: the header and as much as fits with every fd, then the rest */
static int send_plan(int sock, const struct buf *records, const int *fds, int nfds)
{
    static char first[PLAN_CHUNK];
    uint32_t head[3] = {PLAN_VERSION, (uint32_t)records->len, (uint32_t)nfds};
    memcpy(first, PLAN_MAGIC, 4);
    memcpy(first + 4, head, sizeof(head));
    size_t room = PLAN_CHUNK - 16;
    size_t now = records->len < room ? records->len : room;
    memcpy(first + 16, records->data, now);
    char control[CMSG_SPACE(sizeof(int) * MAX_ATTACH_FDS)];
    struct iovec iov = {first, 16 + now};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    memset(control, 0, sizeof(control));
    if (nfds) {
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    if (sendmsg(sock, &msg, MSG_NOSIGNAL) != (ssize_t)iov.iov_len)
        return -1;
    for (size_t at = now; at < records->len; at += PLAN_CHUNK) {
        size_t len = records->len - at < PLAN_CHUNK ? records->len - at : PLAN_CHUNK;
        if (send(sock, records->data + at, len, MSG_NOSIGNAL) != (ssize_t)len)
            return -1;
    }
    return 0;
}

/* attach.py host_ids over the supervisor's "U|G inner outer count" lines: the host's id of
 * ID inside, or -1 */
static long long host_id(const char *maps, char kind, long long id)
{
    for (const char *line = maps; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        long long inner, outer, count;
        char k;
        if (sscanf(line, "%c %lld %lld %lld", &k, &inner, &outer, &count) == 4 && k == kind &&
            inner <= id && id < inner + count)
            return outer + id - inner;
    }
    return -1;
}

/* kernel/pty.py is_master: a devpts master answers TIOCGPTN */
static int is_master(int fd)
{
    struct statfs sfs;
    unsigned n;
    return fstatfs(fd, &sfs) == 0 && sfs.f_type == 0x1cd1 && ioctl(fd, TIOCGPTN, &n) == 0;
}

/* attach.py _printable: no terminal control reaches the caller's terminal */
static void printable(char *text)
{
    for (unsigned char *c = (unsigned char *)text; *c; c++)
        if (*c < 0x20 || *c == 0x7f)
            *c = '?';
}

/* ---- the terminal: attach_tty.py relay_until_exit ---- */

static volatile sig_atomic_t winch_peer = -1, winch_master = -1;

static void copy_window_size(int from, int to)
{
    struct winsize size;
    if (ioctl(from, TIOCGWINSZ, &size) == 0)
        ioctl(to, TIOCSWINSZ, &size);
}

static void on_winch(int sig)
{
    (void)sig;
    int saved = errno;
    if (winch_peer >= 0)
        copy_window_size(winch_peer, winch_master);
    errno = saved;
}

/* terminal.py write_all: EAGAIN waits, any other error drops the rest */
static void write_out(int fd, const char *data, size_t len)
{
    while (len) {
        ssize_t done = write(fd, data, len);
        if (done < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                struct pollfd p = {fd, POLLOUT, 0};
                poll(&p, 1, 1000);
                continue;
            }
            return;
        }
        data += done;
        len -= (size_t)done;
    }
}

static int relay_until_exit(int master, pid_t child, const int *tty_fds)
{
    static char data[65536];
    int peer = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC), own = peer >= 0;
    if (!own)
        peer = tty_fds[0];
    copy_window_size(peer, master);
    winch_peer = peer;
    winch_master = master;
    struct sigaction sa, old_winch, old_ttin, old_ttou;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_winch;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGWINCH, &sa, &old_winch);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGTTIN, &sa, &old_ttin);
    sigaction(SIGTTOU, &sa, &old_ttou);
    pid_t fg = tcgetpgrp(peer);
    int foreground = fg >= 0 && fg == getpgrp();
    struct termios saved, raw;
    int restore = 0;
    if (foreground && tcgetattr(peer, &saved) == 0) {
        raw = saved; /* Python 3.11's tty.setraw */
        raw.c_iflag &= ~(tcflag_t)(BRKINT | ICRNL | INPCK | ISTRIP | IXON);
        raw.c_oflag &= ~(tcflag_t)OPOST;
        raw.c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
        raw.c_cflag |= CS8;
        raw.c_lflag &= ~(tcflag_t)(ECHO | ICANON | IEXTEN | ISIG);
        raw.c_cc[VMIN] = 1;
        raw.c_cc[VTIME] = 0;
        restore = tcsetattr(peer, TCSANOW, &raw) == 0;
    }
    int pidfd = (int)syscall(SYS_pidfd_open, child, 0);
    int code = 1;
    struct pollfd p[3] = {{master, POLLIN, 0}, {peer, POLLIN, 0}, {pidfd, POLLIN, 0}};
    for (;;) {
        int ready = poll(p, 3, -1);
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[0].fd >= 0 && p[0].revents) {
            ssize_t got = read(master, data, sizeof(data));
            if (got > 0)
                write_out(peer, data, (size_t)got);
            else if (got < 0 && errno == EINTR)
                ;
            else
                p[0].fd = -1;
        }
        if (p[1].fd >= 0 && p[1].revents) {
            ssize_t got = read(peer, data, 4096);
            if (got > 0)
                write_out(master, data, (size_t)got);
            else if (got < 0 && errno == EINTR)
                ;
            else
                p[1].fd = -1;
        }
        if (p[2].revents || pidfd < 0) {
            for (;;) { /* what is still in the pty */
                struct pollfd m = {master, POLLIN, 0};
                if (poll(&m, 1, 0) <= 0)
                    break;
                ssize_t got = read(master, data, sizeof(data));
                if (got <= 0)
                    break;
                write_out(peer, data, (size_t)got);
            }
            code = wait_code(child);
            break;
        }
    }
    winch_peer = -1;
    sigaction(SIGWINCH, &old_winch, NULL);
    sigaction(SIGTTIN, &old_ttin, NULL);
    sigaction(SIGTTOU, &old_ttou, NULL);
    if (pidfd >= 0)
        close(pidfd);
    close(master);
    if (restore)
        tcsetattr(peer, TCSAFLUSH, &saved);
    if (own)
        close(peer);
    return code;
}

static int lxc_attach(int argc, char **argv)
{
    struct attach_args a;
    char lxcpath[PATH_MAX];
    struct args common;
    if (parse_attach(argc, argv, &a))
        return FALLBACK;
    memset(&common, 0, sizeof(common));
    common.name = a.name;
    common.lxcpath = a.lxcpath;
    if (container_path(&common, lxcpath, sizeof(lxcpath)))
        return FALLBACK;
    const char *entry_choice = getenv("LXCTOOLS_ENTRY");
    if (entry_choice && !strcmp(entry_choice, "python"))
        return FALLBACK;
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0)
            return FALLBACK; /* a closed stdio fd: our sockets would take its number */
    /* security.py _seccomp_wanted reads the caller's own state: Python decides under one */
    if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) != 0)
        return FALLBACK;
    static struct env env;
    int fds[MAX_ATTACH_FDS], nfds = 0;
    /* the request: the caller's namespaces, -e, and a pidfd of ourselves (who asks) */
    char request[1024];
    int n = snprintf(request, sizeof(request), REQUEST(CMD_ATTACH) ", \"elevated\": [%s%s%s%s%s], \"ns\": {",
                     a.elevated & 1 ? "\"CAP\"" : "", (a.elevated & 1) && (a.elevated & 6) ? ", " : "",
                     a.elevated & 2 ? "\"CGROUP\"" : "", (a.elevated & 2) && (a.elevated & 4) ? ", " : "",
                     a.elevated & 4 ? "\"LSM\"" : "");
    int first = 1;
    for (size_t k = 0; k < sizeof(NS_NAMES) / sizeof(NS_NAMES[0]); k++) {
        char path[64];
        struct stat st;
        snprintf(path, sizeof(path), "/proc/self/ns/%s", NS_NAMES[k]);
        if (stat(path, &st) < 0)
            continue;
        n += snprintf(request + n, sizeof(request) - (size_t)n, "%s\"%s\": %llu", first ? "" : ", ",
                      NS_NAMES[k], (unsigned long long)st.st_ino);
        first = 0;
    }
    n += snprintf(request + n, sizeof(request) - (size_t)n, "}}\n");
    if (n >= (int)sizeof(request))
        return FALLBACK;
    int self = (int)syscall(SYS_pidfd_open, getpid(), 0);
    if (self < 0)
        return FALLBACK;
    int sock = connect_supervisor(lxcpath, a.name);
    if (sock < 0) {
        close(self);
        return FALLBACK;
    }
    char *line;
    int got = ask_with_fds(sock, request, &self, 1, &line, fds, &nfds);
    close(self);
    close(sock);
    long long version = 0, ns_count = -1, setup_uid = -1, setup_gid = -1;
    const char *end;
    const char *value;
    struct buf records, configured, files, cgroups, maps;
    memset(&records, 0, sizeof(records));
    if (got < 0 || member(line, "error", NULL) ||
        !(value = member(line, "version", &end)) || !integer(value, end, &version) ||
        version != PLAN_VERSION || !(value = member(line, "nfds", &end)) ||
        !integer(value, end, &ns_count) || ns_count + 1 != nfds ||
        b64_member(line, "records", &records) || b64_member(line, "env", &configured) ||
        b64_member(line, "files", &files) || b64_member(line, "cgroups", &cgroups) ||
        b64_member(line, "maps", &maps) || !(value = member(line, "mnt", &end))) {
        close_all(fds, nfds);
        return FALLBACK; /* an error, a supervisor of another version: Python's to say */
    }
    int mnt = !strncmp(value, "true", 4);
    const char *setup = member(line, "setup", &end);
    if (setup && *setup == '[' && sscanf(setup, "[%lld, %lld]", &setup_uid, &setup_gid) != 2) {
        close_all(fds, nfds);
        return FALLBACK;
    }
    int helper = fds[nfds - 1];
    if (files_unchanged(files.data) || attach_environment(&a, &configured, &env)) {
        close_all(fds, nfds);
        return FALLBACK; /* a config changed since the supervisor read it: Python reads it */
    }
    /* the caller's part: terminal, ids, directory, environment, command */
    unsigned char tty[3];
    int ntty = 0, tty_fds[3];
    for (int fd = 0; fd < 3; fd++)
        if (isatty(fd))
            tty[ntty] = (unsigned char)fd, tty_fds[ntty++] = fd;
    int bad = ntty ? record(&records, TAG_TTY, tty, (size_t)ntty) : 0;
    struct winsize size; /* given to the pty before the command runs, as LXC */
    if (ntty && ioctl(tty_fds[0], TIOCGWINSZ, &size) == 0)
        bad |= record(&records, TAG_WINSIZE, &size, sizeof(size));
    uint32_t ids[2] = {(uint32_t)(a.uid >= 0 ? a.uid : setup_uid >= 0 ? setup_uid : 0),
                       (uint32_t)(a.gid >= 0 ? a.gid : setup_gid >= 0 ? setup_gid : 0)};
    bad |= record(&records, TAG_TARGET_IDS, ids, sizeof(ids));
    static char cwd[PATH_MAX];
    if (mnt && getcwd(cwd, sizeof(cwd)))
        bad |= record(&records, TAG_CWD, cwd, strlen(cwd) + 1);
    else if (mnt && errno == ERANGE)
        bad = 1; /* a directory longer than PATH_MAX: Python's getcwd has it */
    for (int i = 0; i < env.n; i++)
        bad |= record(&records, TAG_ENV, env.entries[i], strlen(env.entries[i]) + 1);
    for (int i = 0; i < a.ncommand; i++)
        bad |= record(&records, TAG_ARG, a.command[i], strlen(a.command[i]) + 1);
    if (bad) {
        close_all(fds, nfds);
        return FALLBACK;
    }
    /* the transient: lxc-entry from the supervisor's sealed copy, the plan on its fd 3 */
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair)) {
        close_all(fds, nfds);
        return FALLBACK;
    }
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    /* the transient born in its cgroups, where the kernel can: no move of it then takes the
     * kernel's global cgroup lock, whose first taking after an idle while waits out an RCU
     * grace period (8-16 ms; kernel/clone3.py) */
    int born = 0;
    pid_t transient = born_in_cgroups(&cgroups, &born, pair[1]);
    if (transient == 0) {
        if (pair[1] != 3 ? dup2(pair[1], 3) < 0 : fcntl(3, F_SETFD, 0) < 0)
            _exit(1);
        char *child_argv[] = {"lxc-attach", NULL}, *child_env[] = {NULL};
        syscall(SYS_execveat, helper, "", child_argv, child_env, AT_EMPTY_PATH);
        _exit(1);
    }
    close(pair[1]);
    close(helper);
    nfds--;
    int chan = pair[0];
    int failed = transient < 0;
    /* cgroups first, while the helper waits for its plan (cgroups/core.py _attach) */
    for (size_t off = 0; !failed && !born && off < cgroups.len;) {
        const char *dir = cgroups.data + off;
        off += strlen(dir) + 1;
        char path[PATH_MAX], pid_text[24];
        int len = snprintf(pid_text, sizeof(pid_text), "%d", (int)transient);
        snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        failed = fd < 0 || write(fd, pid_text, (size_t)len) != len;
        if (fd >= 0)
            close(fd);
    }
    if (!failed)
        failed = send_plan(chan, &records, fds, nfds);
    close_all(fds, nfds);
    if (failed) {
        /* nothing has entered: the helper reads end of file and leaves; Python attaches,
         * or says what is wrong */
        close(chan);
        if (transient > 0)
            wait_code(transient);
        return FALLBACK;
    }
    /* ^C and ^\ are the command's (attach.py); a reader gone is an EPIPE, as in Python */
    signal(SIGINT, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    int master = -1;
    pid_t child = -1;
    static char message[65536 + 1];
    int have_message = 0;
    for (;;) {
        static char data[65536];
        char control[CMSG_SPACE(sizeof(int))];
        struct iovec iov = {data, sizeof(data) - 1};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                             .msg_controllen = sizeof(control)};
        ssize_t len = recvmsg(chan, &msg, MSG_CMSG_CLOEXEC);
        if (len < 0 && errno == EINTR)
            continue;
        int fd = -1;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
                c->cmsg_len >= CMSG_LEN(sizeof(int))) {
                int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
                for (int k = 0; k < count; k++) {
                    int received;
                    memcpy(&received, CMSG_DATA(c) + (size_t)k * sizeof(int), sizeof(int));
                    if (fd < 0)
                        fd = received;
                    else
                        close(received);
                }
            }
        if (len <= 0) {
            if (fd >= 0)
                close(fd);
            break;
        }
        data[len] = 0;
        if (data[0] == 'C' && fd >= 0 && master < 0 && is_master(fd)) {
            master = fd;
            fd = -1;
        } else if (data[0] == 'H' && master < 0 && ntty) {
            int slave = -1;
            master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
            if (master >= 0 && unlockpt(master) == 0)
                slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
            if (slave >= 0) {
                if (setup_uid >= 0) { /* a user namespace: its root owns it, as LXC */
                    long long hu = host_id(maps.data, 'U', ids[0]), hg = host_id(maps.data, 'G', ids[1]);
                    if (hu >= 0 && hg >= 0)
                        (void)!fchown(slave, (uid_t)hu, (gid_t)hg);
                }
                send_fd_msg(chan, "S", 1, slave);
                close(slave);
            }
        } else if (data[0] == 'P' && len > 1 && child < 0 &&
                   strspn(data + 1, "0123456789") == (size_t)(len - 1)) {
            child = (pid_t)atoi(data + 1);
        } else if (data[0] == 'E' && !have_message) {
            memcpy(message, data + 1, (size_t)len);
            have_message = 1;
        }
        if (fd >= 0)
            close(fd);
    }
    close(chan);
    int code = wait_code(transient);
    if (child > 0) {
        if (master >= 0)
            code = relay_until_exit(master, child, tty_fds);
        else
            code = wait_code(child);
    } else if (master >= 0) {
        close(master);
    }
    if (have_message) {
        /* attach.py: AttachError(text, hint), "NAME: " first (name_prefixed), run_tool's lines */
        char *hint = message + strlen(message) + 1;
        int with_hint = hint < message + sizeof(message) && *hint;
        printable(message);
        dprintf(2, "lxc-attach: %s: %s\n", a.name, message);
        if (with_hint) {
            printable(hint);
            dprintf(2, "lxc-attach: hint: %s\n", hint);
        }
        return code ? code & 0xff : 1;
    }
    return code & 0xff;
}

/* ---- the door ------------------------------------------------------------------------- */

/* run_tool's Ctrl-C: "PROG: interrupted", exit 130 */
static void interrupted(int sig)
{
    (void)sig;
    char message[64];
    int n = snprintf(message, sizeof(message), "%s: interrupted\n", prog);
    if (n > 0)
        (void)!write(2, message, (size_t)n);
    _exit(130);
}

/* exec the Python tool: `BINDIR/lxctools --as TOOL ARGS...`, the console script pip wrote
 * beside this copy for the Python it installed into (cli/about.py run_as) */
static int python_tool(const char *exe, const char *tool, char **argv)
{
    char path[PATH_MAX];
    const char *slash = strrchr(exe, '/');
    size_t bindir = slash ? (size_t)(slash - exe) + 1 : 0;
    int argc = 0;
    while (argv[argc])
        argc++;
    char **args = calloc((size_t)argc + 4, sizeof(char *));
    if (!args) {
        errno = ENOMEM;
    } else if (snprintf(path, sizeof(path), "%.*slxctools", (int)bindir, exe) >=
               (int)sizeof(path)) {
        errno = ENAMETOOLONG;
    } else {
        args[0] = "lxctools";
        args[1] = "--as";
        args[2] = (char *)tool;
        for (int i = 1; i < argc; i++)
            args[i + 2] = argv[i];
        signal(SIGINT, SIG_DFL);
        execv(path, args);
    }
    char message[PATH_MAX + 128];
    int n = snprintf(message, sizeof(message),
                     "%s: cannot run the Python tool (%s --as %s): %s (reinstall lxctools)\n",
                     tool, path, tool, strerror(errno));
    write_all(2, message, (size_t)n);
    return 1;
}

/* called as lxc-front: what tests/unit/test_front_door_protocol.py compares with the Python side */
static int diagnose(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "protocol")) {
        printf("states");
        for (size_t i = 0; i < NSTATES; i++)
            printf(" %s", STATES[i]);
        printf("\ncommands %s %s %s %s %s\n", CMD_INFO, CMD_STATE, CMD_WAIT, CMD_STOP, CMD_ATTACH);
        printf("plan %s %d tty %d target_ids %d cwd %d env %d arg %d winsize %d chunk %d\n",
               PLAN_MAGIC, PLAN_VERSION, TAG_TTY, TAG_TARGET_IDS, TAG_CWD, TAG_ENV, TAG_ARG,
               TAG_WINSIZE, PLAN_CHUNK);
        printf("attach-path %s\nnamespaces", ATTACH_DEFAULT_PATH);
        for (size_t k = 0; k < sizeof(NS_NAMES) / sizeof(NS_NAMES[0]); k++)
            printf(" %s", NS_NAMES[k]);
        printf("\n");
        printf("tools %s\n", TOOLS);
        printf("supervise %s %d\nsupervise-program ", SUPERVISE, READY_FD);
        for (const char *c = SUPERVISE_PROGRAM; *c; c++)
            printf("%02x", (unsigned char)*c);
        printf("\n");
        printf("version %s\nsender-pidfd %s\n", PROTOCOL_VERSION, SENDER_PIDFD);
        for (const char *line = SENDS "\n"; *line; line = strchr(line, '\n') + 1)
            printf("sends %.*s\n", (int)(strchr(line, '\n') - line), line);
        for (const char *line = READS "\n"; *line; line = strchr(line, '\n') + 1)
            printf("reads %.*s\n", (int)(strchr(line, '\n') - line), line);
        printf("timeout %d\nkill-wait %d\nmax-name %d\nlxc-sun-path %d\n", REQUEST_TIMEOUT,
               KILL_WAIT, MAX_NAME, LXC_SUN_PATH);
        printf("fancy");
        for (int c = 0; c < LS_COLUMNS; c++)
            printf(" %s", FANCY[c]);
        printf("\n");
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "temp-record")) {
        printf("%d\n", temp_record(argv[2]));
        return 0;
    }
    if (argc == 4 && !strcmp(argv[1], "socket-name")) {
        struct sockaddr_un addr;
        socklen_t len;
        if (socket_address(argv[2], argv[3], &addr, &len) < 0)
            return 1;
        printf("@%.*s\n", (int)(len - offsetof(struct sockaddr_un, sun_path) - 1), addr.sun_path + 1);
        return 0;
    }
    if (argc == 2 && !strcmp(argv[1], "lxcpath")) {
        char path[PATH_MAX];
        if (default_lxcpath(path, sizeof(path)))
            return 1;
        printf("%s\n", path);
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "normalize")) {
        char path[PATH_MAX];
        if (normalize_lxcpath(argv[2], path, sizeof(path)))
            return 1;
        printf("%s\n", path);
        return 0;
    }
    fprintf(stderr, "usage: lxc-front protocol | socket-name LXCPATH NAME | lxcpath | "
                    "normalize PATH | temp-record NAME\n(pip installs it as lxc-info, lxc-wait, lxc-stop, "
                    "lxc-ls and lxc-start: setup.py)\n");
    return 1;
}

int main(int argc, char **argv)
{
    static char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (len <= 0) {
        fprintf(stderr, "%s: cannot find my own path (/proc/self/exe): %s\n",
                argc ? argv[0] : "lxc-front", strerror(errno));
        return 1;
    }
    exe[len] = 0;
    self_exe = exe;
    const char *tool = strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe;
    if (!strcmp(tool, "lxc-front"))
        return diagnose(argc, argv);
    prog = tool;
    if (argc < 1)
        return python_tool(exe, tool, argv);
    const char *pure = getenv("LXCTOOLS_PURE_PYTHON");
    /* argcomplete runs the tool to complete a word: Python's */
    if ((pure && *pure && strcmp(pure, "0")) || getenv("_ARGCOMPLETE"))
        return python_tool(exe, tool, argv);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = interrupted;
    sigaction(SIGINT, &sa, &caller_sigint);
    int code = FALLBACK;
    if (!strcmp(tool, "lxc-info"))
        code = lxc_info(argc, argv);
    else if (!strcmp(tool, "lxc-wait"))
        code = lxc_wait(argc, argv);
    else if (!strcmp(tool, "lxc-stop"))
        code = lxc_stop(argc, argv);
    else if (!strcmp(tool, "lxc-ls"))
        code = lxc_ls(argc, argv);
    else if (!strcmp(tool, "lxc-start"))
        code = lxc_start(argc, argv);
    else if (!strcmp(tool, "lxc-attach"))
        code = lxc_attach(argc, argv);
    if (code == FALLBACK)
        return python_tool(exe, tool, argv);
    return code;
}
