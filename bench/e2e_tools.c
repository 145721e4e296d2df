/* Small load tools for bench/e2e.sh, built by the script with `cc -O2`.
 *
 *   e2e_tools tcpsrv PORT                    accept connections and close each at once
 *   e2e_tools tcpcli HOST PORT SECONDS PROCS PROCS processes, each in a loop: connect,
 *                                            read until the server's FIN, close. Prints
 *                                            "<completed> <failed>" for all of them.
 *   e2e_tools udpecho PORT                   echo every UDP datagram back to its sender
 *   e2e_tools udpping HOST PORT COUNT GAP_US one 32-byte request at a time, COUNT of them
 *                                            GAP_US apart; prints "<answered> <lost>
 *                                            <min> <median> <p90> <p99>" (microseconds)
 *   e2e_tools udppair NS_A NS_B HOST PORT COUNT GAP_US
 *                                            the same probes from two network namespaces
 *                                            (paths under /run/netns) taken in turn, in
 *                                            alternating order: COUNT round trips each, one
 *                                            probe every GAP_US; prints "<answered> <lost>
 *                                            <min> <median> <p90> <p99>" for A, then for B.
 *                                            The two paths share every moment of the host's
 *                                            load, so their difference is what the path
 *                                            through A's gateway adds
 *   e2e_tools reflect TUNNAME                create a TUN device with virtio-net headers and
 *                                            checksum/TSO/USO offloads, and write every packet
 *                                            read from it straight back, unchanged: the ceiling
 *                                            of the TUN path itself (DESIGN.md's no-op reflector)
 *
 * The server closes first so the clients hold no TIME_WAIT: a client port is free again as
 * soon as its connection ends, as it would be for a client talking to a web server.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static struct sockaddr_in address(const char *host, int port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    if (host == NULL) {
        a.sin_addr.s_addr = htonl(INADDR_ANY);
    } else if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
        fprintf(stderr, "bad address %s\n", host);
        exit(2);
    }
    return a;
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

static int tcpsrv(int port) {
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = address(NULL, port);
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
    if (listen(s, 4096) < 0) die("listen");
    for (;;) {
        int c = accept(s, NULL, NULL);
        if (c >= 0) close(c);
    }
    return 0;
}

static void tcpcli_worker(const char *host, int port, double seconds, int out) {
    struct sockaddr_in a = address(host, port);
    struct timeval timeout = {1, 0};
    long completed = 0, failed = 0;
    char buffer[64];
    double end = now_s() + seconds;
    while (now_s() < end) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (s < 0) die("socket");
        setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout); /* bounds connect */
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        int ok = connect(s, (struct sockaddr *)&a, sizeof a) == 0;
        if (ok) {
            ssize_t n;
            while ((n = read(s, buffer, sizeof buffer)) > 0) {
            }
            ok = n == 0;
        }
        close(s);
        if (ok) completed++; else failed++;
    }
    dprintf(out, "%ld %ld\n", completed, failed);
}

static int tcpcli(const char *host, int port, double seconds, int procs) {
    int pipes[2];
    if (pipe(pipes) < 0) die("pipe");
    for (int i = 0; i < procs; i++) {
        if (fork() == 0) {
            close(pipes[0]);
            tcpcli_worker(host, port, seconds, pipes[1]);
            _exit(0);
        }
    }
    close(pipes[1]);
    FILE *in = fdopen(pipes[0], "r");
    long completed = 0, failed = 0, c, f;
    while (fscanf(in, "%ld %ld", &c, &f) == 2) {
        completed += c;
        failed += f;
    }
    while (wait(NULL) > 0) {
    }
    printf("%ld %ld\n", completed, failed);
    return 0;
}

static int udpecho(int port) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = address(NULL, port), from;
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
    char buffer[2048];
    for (;;) {
        socklen_t length = sizeof from;
        ssize_t n = recvfrom(s, buffer, sizeof buffer, 0, (struct sockaddr *)&from, &length);
        if (n >= 0) sendto(s, buffer, n, 0, (struct sockaddr *)&from, length);
    }
    return 0;
}

static int compare(const void *x, const void *y) {
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

/* One request, one answer (or a 200 ms timeout): the round trip in ns, or -1 when lost. */
static int64_t probe(int s, uint32_t sequence) {
    char request[32], reply[64];
    memset(request, 'x', sizeof request);
    memcpy(request, &sequence, sizeof sequence);
    int64_t start = now_ns();
    send(s, request, sizeof request, 0);
    for (;;) {
        ssize_t n = recv(s, reply, sizeof reply, 0);
        if (n < 0) return -1;
        uint32_t got;
        memcpy(&got, reply, sizeof got);
        if (n == sizeof request && got == sequence) return now_ns() - start;
    }
}

static int udp_socket(const char *host, int port) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = address(host, port);
    struct timeval timeout = {0, 200000};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) die("connect");
    return s;
}

static void report(int64_t *rtt, int answered, int lost) {
    if (answered == 0) {
        printf("0 %d 0 0 0 0\n", lost);
        return;
    }
    qsort(rtt, answered, sizeof *rtt, compare);
    printf("%d %d %.1f %.1f %.1f %.1f\n", answered, lost, rtt[0] / 1e3, rtt[answered / 2] / 1e3,
           rtt[(int)(answered * 0.90)] / 1e3, rtt[(int)(answered * 0.99)] / 1e3);
}

static int udpping(const char *host, int port, int count, int gap_us) {
    int s = udp_socket(host, port);
    int64_t *rtt = calloc(count, sizeof *rtt);
    int answered = 0, lost = 0;
    for (int i = 0; i < count; i++) {
        int64_t t = probe(s, (uint32_t)i);
        if (t < 0) lost++; else rtt[answered++] = t;
        if (gap_us > 0) usleep(gap_us);
    }
    report(rtt, answered, lost);
    return answered == 0;
}

/* A socket belongs to the namespace it was created in, whatever the thread does next. */
static int socket_in(const char *namespace_path, const char *host, int port) {
    int ns = open(namespace_path, O_RDONLY);
    if (ns < 0 || setns(ns, CLONE_NEWNET) < 0) die(namespace_path);
    close(ns);
    return udp_socket(host, port);
}

static int udppair(const char *ns_a, const char *ns_b, const char *host, int port, int count, int gap_us) {
    int s[2] = {socket_in(ns_a, host, port), socket_in(ns_b, host, port)};
    int64_t *rtt[2] = {calloc(count, sizeof(int64_t)), calloc(count, sizeof(int64_t))};
    int answered[2] = {0, 0}, lost[2] = {0, 0};
    for (int i = 0; i < 2 * count; i++) {
        /* A B B A A B B A ...: neither path always goes first after the pause */
        int which = ((i + 1) / 2) % 2;
        int64_t t = probe(s[which], (uint32_t)i);
        if (t < 0) lost[which]++; else rtt[which][answered[which]++] = t;
        if (gap_us > 0) usleep(gap_us);
    }
    report(rtt[0], answered[0], lost[0]);
    report(rtt[1], answered[1], lost[1]);
    return answered[0] == 0 || answered[1] == 0;
}

/* The reflector: one blocking read and one write per packet, nothing else. A super-packet is
 * written back with the virtio-net header it came with, so the kernel segments it (or fills in
 * its partial checksum) on the way out exactly as it would after a translation. */
static int reflect(const char *name) {
    int fd = open("/dev/net/tun", O_RDWR);
    if (fd < 0) { perror("open /dev/net/tun"); return 1; }
    struct ifreq request;
    memset(&request, 0, sizeof request);
    snprintf(request.ifr_name, IFNAMSIZ, "%s", name);
    request.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR;
    if (ioctl(fd, TUNSETIFF, &request) < 0) { perror("TUNSETIFF"); return 1; }
    unsigned offloads = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
#ifdef TUN_F_USO4
    if (ioctl(fd, TUNSETOFFLOAD, offloads | TUN_F_USO4 | TUN_F_USO6) == 0) offloads |= TUN_F_USO4 | TUN_F_USO6;
    else
#endif
    if (ioctl(fd, TUNSETOFFLOAD, offloads) < 0) { perror("TUNSETOFFLOAD"); return 1; }
    printf("reflecting on %s, offloads 0x%x\n", request.ifr_name, offloads);
    fflush(stdout);
    static unsigned char packet[10 + 65536];
    unsigned long long failed = 0;
    for (;;) {
        ssize_t length = read(fd, packet, sizeof packet);
        if (length < 0) {
            if (errno == EINTR) continue;
            perror("read");
            return 1;
        }
        if (write(fd, packet, (size_t)length) < 0 && failed++ == 0) perror("write (counted, not repeated)");
    }
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    if (argc == 3 && strcmp(argv[1], "tcpsrv") == 0) return tcpsrv(atoi(argv[2]));
    if (argc == 6 && strcmp(argv[1], "tcpcli") == 0) return tcpcli(argv[2], atoi(argv[3]), atof(argv[4]), atoi(argv[5]));
    if (argc == 3 && strcmp(argv[1], "udpecho") == 0) return udpecho(atoi(argv[2]));
    if (argc == 6 && strcmp(argv[1], "udpping") == 0) return udpping(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    if (argc == 8 && strcmp(argv[1], "udppair") == 0)
        return udppair(argv[2], argv[3], argv[4], atoi(argv[5]), atoi(argv[6]), atoi(argv[7]));
    if (argc == 3 && strcmp(argv[1], "reflect") == 0) return reflect(argv[2]);
    fprintf(stderr, "usage: see the comment at the top of e2e_tools.c\n");
    return 2;
}
