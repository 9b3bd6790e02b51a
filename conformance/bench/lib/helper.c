/*
 * berth benchmark helper, two modes:
 *
 *   helper reap CMD [ARG...]
 *       Becomes a child subreaper, runs CMD and reaps every orphan that is
 *       reparented to it (container processes whose runtime has exited), so
 *       thousands of short-lived containers leave no zombies behind. Exits
 *       with CMD's status.
 *
 *   helper id IDFILE CMD [ARG...]
 *       The wrapper of every timed command: reads a container id from IDFILE
 *       ("-": none), replaces each "@ID@" in the arguments with it and execs
 *       CMD. Benchmarks time this wrapper for every runtime alike, so its
 *       small cost is the same for all of them (bench.sh measures it too).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static char *substitute(const char *arg, const char *id)
{
	const char *mark = "@ID@";
	size_t mlen = strlen(mark), idlen = strlen(id), n = 0;
	for (const char *p = strstr(arg, mark); p; p = strstr(p + mlen, mark))
		n++;
	if (n == 0)
		return (char *)arg;
	char *out = malloc(strlen(arg) + n * idlen + 1), *o = out;
	if (!out)
		return NULL;
	for (const char *p = arg;;) {
		const char *q = strstr(p, mark);
		if (!q) {
			strcpy(o, p);
			break;
		}
		memcpy(o, p, (size_t)(q - p));
		o += q - p;
		memcpy(o, id, idlen);
		o += idlen;
		p = q + mlen;
	}
	return out;
}

static int mode_id(int argc, char **argv)
{
	char id[256] = "";
	if (strcmp(argv[0], "-") != 0) {
		int fd = open(argv[0], O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			perror(argv[0]);
			return 125;
		}
		ssize_t n = read(fd, id, sizeof(id) - 1);
		close(fd);
		if (n <= 0) {
			fprintf(stderr, "helper: %s: no id\n", argv[0]);
			return 125;
		}
		id[n] = 0;
		id[strcspn(id, "\r\n")] = 0;
	}
	char **args = calloc((size_t)argc, sizeof(char *));
	if (!args)
		return 125;
	for (int i = 1; i < argc; i++)
		if (!(args[i - 1] = substitute(argv[i], id)))
			return 125;
	execvp(args[0], args);
	fprintf(stderr, "helper: exec %s: %s\n", args[0], strerror(errno));
	return 127;
}

static int mode_reap(char **argv)
{
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
		perror("PR_SET_CHILD_SUBREAPER");
		return 125;
	}
	pid_t main_pid = fork();
	if (main_pid < 0) {
		perror("fork");
		return 125;
	}
	if (main_pid == 0) {
		execvp(argv[0], argv);
		fprintf(stderr, "helper: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	for (;;) {
		int status;
		pid_t pid = wait(&status);
		if (pid < 0) {
			if (errno == EINTR)
				continue;
			return 125;
		}
		if (pid == main_pid) {
			if (WIFEXITED(status))
				return WEXITSTATUS(status);
			return 128 + WTERMSIG(status);
		}
	}
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "reap") == 0)
		return mode_reap(argv + 2);
	if (argc >= 4 && strcmp(argv[1], "id") == 0)
		return mode_id(argc - 2, argv + 2);
	fprintf(stderr, "usage: helper reap CMD [ARG...]\n"
			"       helper id IDFILE CMD [ARG...]\n");
	return 2;
}
