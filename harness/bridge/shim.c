/* The lean stand-in for `docker`, `docker-compose`, `curl`, `redis-cli`, `psql`,
 * `pg_isready`, `fuser`: the same job as shim.py (forward argv, working directory and
 * environment to the bridge over its Unix socket; print the answer and exit with its
 * status, or exec the real tool), in ~1 ms instead of a Python start (~24 ms).
 *
 * Line protocol (harness/bridge/server.py answers it next to shim.py's JSON):
 *   request  "GAMEDAY/1\n" "<argc>\n" argv[0]\0 ... argv[argc-1]\0 cwd\0 env...\0, then EOF
 *   answer   "rc <status> <stdout bytes> <stderr bytes>\n" <stdout><stderr>
 *         or "exec <argc> <envc>\n" argv...\0 env...\0
 * Built once per machine by harness/bridge/lean_shim.py with the system's C compiler.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

extern char **environ;

static const char *name = "shim";

static void die(const char *what, const char *detail) {
    fprintf(stderr, "%s: gameday bridge: %s%s%s\n", name, what, detail ? ": " : "",
            detail ? detail : "");
    exit(1); /* as shim.py, whose uncaught exception exits 1 */
}

typedef struct {
    char *data;
    size_t len, cap;
} buf_t;

static void put(buf_t *b, const void *p, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 8192;
        while (cap < b->len + n) cap *= 2;
        b->data = realloc(b->data, cap);
        if (!b->data) die("out of memory", NULL);
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void put_str0(buf_t *b, const char *s) { put(b, s, strlen(s) + 1); }

static void write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            exit(1);
        }
        p += w;
        n -= (size_t)w;
    }
}

/* Next NUL-terminated string of the answer, or die on a short answer. */
static char *next_str(char **cur, char *end) {
    char *s = *cur;
    char *nul = memchr(s, '\0', (size_t)(end - s));
    if (!nul) die("truncated answer", NULL);
    *cur = nul + 1;
    return s;
}

int main(int argc, char **argv) {
    const char *slash = strrchr(argv[0], '/');
    name = slash ? slash + 1 : argv[0];
    const char *path = getenv("GAMEDAY_BRIDGE");
    if (!path || !*path) {
        fprintf(stderr, "%s: gameday bridge not configured (GAMEDAY_BRIDGE unset)\n", name);
        return 127;
    }
    char cwd[8192];
    if (!getcwd(cwd, sizeof cwd)) die("cannot read the working directory", strerror(errno));

    buf_t req = {0};
    char head[64];
    int n = snprintf(head, sizeof head, "GAMEDAY/1\n%d\n", argc);
    put(&req, head, (size_t)n);
    put_str0(&req, name); /* argv[0] is the tool's name, as shim.py sends it */
    for (int i = 1; i < argc; i++) put_str0(&req, argv[i]);
    put_str0(&req, cwd);
    for (char **e = environ; *e; e++) put_str0(&req, *e);

    int sock = socket(AF_UNIX, SOCK_STREAM, 0);
    if (sock < 0) die("socket", strerror(errno));
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path) die("socket path too long", path);
    strcpy(addr.sun_path, path);
    if (connect(sock, (struct sockaddr *)&addr, sizeof addr) < 0)
        die(path, strerror(errno));
    write_all(sock, req.data, req.len);
    shutdown(sock, SHUT_WR);

    buf_t ans = {0};
    char chunk[65536];
    for (;;) {
        ssize_t r = read(sock, chunk, sizeof chunk);
        if (r < 0) {
            if (errno == EINTR) continue;
            die("read", strerror(errno));
        }
        if (r == 0) break;
        put(&ans, chunk, (size_t)r);
    }
    close(sock);
    put(&ans, "", 1); /* a terminator for the header parse */
    char *nl = memchr(ans.data, '\n', ans.len);
    if (!nl) die("no answer", NULL);
    *nl = '\0';
    char *body = nl + 1, *end = ans.data + ans.len - 1;

    long a = 0, b = 0, c = 0;
    if (sscanf(ans.data, "rc %ld %ld %ld", &a, &b, &c) == 3) {
        if (b < 0 || c < 0 || body + b + c > end) die("truncated answer", NULL);
        write_all(1, body, (size_t)b);
        write_all(2, body + b, (size_t)c);
        return (int)a;
    }
    if (sscanf(ans.data, "exec %ld %ld", &b, &c) == 2 && b > 0 && c >= 0) {
        char **xargv = calloc((size_t)b + 1, sizeof *xargv);
        char **xenv = calloc((size_t)c + 1, sizeof *xenv);
        if (!xargv || !xenv) die("out of memory", NULL);
        char *cur = body;
        for (long i = 0; i < b; i++) xargv[i] = next_str(&cur, end);
        for (long i = 0; i < c; i++) xenv[i] = next_str(&cur, end);
        execve(xargv[0], xargv, xenv);
        die(xargv[0], strerror(errno));
    }
    die("unexpected answer", ans.data);
    return 1;
}
