/*
 * trace: which functions of a program run, in the order they first run,
 * across every process of the command's tree.
 *
 *   trace ADDRS OUT CMD [ARG...]
 *
 * ADDRS lists the program's function start addresses (hex, one per line,
 * sorted); CMD must exec that (non-PIE) program. trace plants an int3 at
 * each address, and on the first hit of one undoes it, appends the address
 * to OUT and lets the process go on: one trap per function, so a command
 * runs at nearly full speed (single-stepping in a VM is 10^4 times slower).
 * Forks and clones are followed (their memory holds the same breakpoints);
 * a process that execs another program is let go; one that execs the same
 * program again (berth's init helper) gets fresh breakpoints. When CMD's
 * first process exits, whatever it left running (a created container's
 * init) is stopped, cleaned of breakpoints and let go, so it runs on.
 *
 * scripts/symbol-order.sh uses it to lay out berth's hot functions
 * together (see there).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

static uint64_t *addrs;
static size_t naddrs;
static unsigned char *orig_byte; /* each function's first byte */
static char *seen;               /* entered at least once */
static FILE *out;

#define MAX_TRACEES 4096
static pid_t tracees[MAX_TRACEES];
static int ntracees;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void track(pid_t p)
{
	for (int i = 0; i < ntracees; i++)
		if (tracees[i] == p)
			return;
	if (ntracees < MAX_TRACEES)
		tracees[ntracees++] = p;
}

static void untrack(pid_t p)
{
	for (int i = 0; i < ntracees; i++)
		if (tracees[i] == p) {
			tracees[i] = tracees[--ntracees];
			return;
		}
}

static long find(uint64_t a)
{
	size_t lo = 0, hi = naddrs;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (addrs[mid] < a)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < naddrs && addrs[lo] == a ? (long)lo : -1;
}

/* Puts an int3 on every function not entered yet (a freshly exec'd image). */
static void plant(pid_t p)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/mem", p);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die(path);
	const unsigned char int3 = 0xcc;
	for (size_t i = 0; i < naddrs; i++) {
		if (pread(fd, &orig_byte[i], 1, (off_t)addrs[i]) != 1)
			die("read the program's text");
		if (!seen[i] && pwrite(fd, &int3, 1, (off_t)addrs[i]) != 1)
			die("plant a breakpoint");
	}
	close(fd);
}

static void unplant(pid_t p, long i)
{
	errno = 0;
	long word = ptrace(PTRACE_PEEKTEXT, p, (void *)addrs[i], 0);
	if (errno)
		return;
	word = (word & ~0xffL) | orig_byte[i];
	ptrace(PTRACE_POKETEXT, p, (void *)addrs[i], (void *)word);
}

/* A SIGTRAP stop: when it is one of ours, records the function, undoes the
 * breakpoint and rewinds. Returns the signal to pass on (0: none). */
static int on_trap(pid_t p)
{
	struct user_regs_struct regs;
	if (ptrace(PTRACE_GETREGS, p, 0, &regs) != 0)
		return 0;
	long i = find(regs.rip - 1);
	if (i < 0)
		return SIGTRAP;
	unplant(p, i);
	regs.rip -= 1;
	ptrace(PTRACE_SETREGS, p, 0, &regs);
	if (!seen[i]) {
		seen[i] = 1;
		fprintf(out, "%llx\n", (unsigned long long)addrs[i]);
	}
	return 0;
}

/* Stops a tracee, takes every breakpoint left out of it and lets it go. */
static void release(pid_t p)
{
	int st;
	kill(p, SIGSTOP);
	for (;;) {
		if (waitpid(p, &st, __WALL) < 0 || !WIFSTOPPED(st))
			return;
		int sig = WSTOPSIG(st), event = st >> 16;
		if (sig == SIGSTOP && !event)
			break;
		int pass = event ? 0 : sig == SIGTRAP ? on_trap(p) : sig;
		ptrace(PTRACE_CONT, p, 0, pass);
	}
	for (size_t i = 0; i < naddrs; i++)
		if (!seen[i])
			unplant(p, (long)i);
	ptrace(PTRACE_DETACH, p, 0, 0);
}

static void exe_of(pid_t p, char *buf, size_t len)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/exe", p);
	ssize_t n = readlink(path, buf, len - 1);
	buf[n > 0 ? n : 0] = 0;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: trace ADDRS OUT CMD [ARG...]\n");
		return 2;
	}
	FILE *list = fopen(argv[1], "r");
	if (!list)
		die(argv[1]);
	size_t cap = 1 << 14;
	addrs = malloc(cap * sizeof *addrs);
	unsigned long long a;
	while (addrs && fscanf(list, "%llx", &a) == 1) {
		if (naddrs == cap)
			addrs = realloc(addrs, (cap *= 2) * sizeof *addrs);
		if (addrs && (naddrs == 0 || a > addrs[naddrs - 1]))
			addrs[naddrs++] = a;
	}
	fclose(list);
	orig_byte = calloc(naddrs + 1, 1);
	seen = calloc(naddrs + 1, 1);
	out = fopen(argv[2], "a");
	if (!addrs || !orig_byte || !seen || !out)
		die("setup");

	pid_t root = fork();
	if (root < 0)
		die("fork");
	if (root == 0) {
		ptrace(PTRACE_TRACEME, 0, 0, 0);
		execvp(argv[3], argv + 3);
		_exit(127);
	}
	int st, rc = 1;
	if (waitpid(root, &st, 0) < 0 || !WIFSTOPPED(st)) {
		fprintf(stderr, "trace: %s did not start\n", argv[3]);
		return 127;
	}
	char program[4096];
	exe_of(root, program, sizeof program);
	plant(root);
	ptrace(PTRACE_SETOPTIONS, root, 0,
	       PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC);
	track(root);
	ptrace(PTRACE_CONT, root, 0, 0);
	for (;;) {
		pid_t p = waitpid(-1, &st, __WALL);
		if (p < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			untrack(p);
			if (p == root) {
				rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
				while (ntracees) {
					pid_t q = tracees[0];
					untrack(q);
					release(q);
				}
				break;
			}
			continue;
		}
		if (!WIFSTOPPED(st))
			continue;
		track(p);
		int sig = WSTOPSIG(st), event = st >> 16, pass = 0;
		if (event == PTRACE_EVENT_EXEC) {
			char exe[4096];
			exe_of(p, exe, sizeof exe);
			if (strcmp(exe, program) != 0) {
				ptrace(PTRACE_DETACH, p, 0, 0);
				untrack(p);
				continue;
			}
			plant(p);
		} else if (!event && sig == SIGTRAP) {
			pass = on_trap(p);
		} else if (!event && sig != SIGSTOP) {
			pass = sig; /* SIGSTOP: a new child's first stop */
		}
		ptrace(PTRACE_CONT, p, 0, pass);
	}
	fclose(out);
	return rc;
}
