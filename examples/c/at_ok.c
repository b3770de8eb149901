/* A tiny AT driver in C: connect to the module's TCP port, wait for "ready", send AT,
 * expect OK.  Usage: at_ok HOST PORT; exit status 0 when the module answered OK.
 * Built and run by test_c_driver.py. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static char rx[4096];
static size_t rx_len;

static long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Read until `want` is in the buffer (1) or `timeout_ms` passed (0). */
static int read_until(int fd, const char *want, int timeout_ms) {
    long deadline = now_ms() + timeout_ms;
    while (strstr(rx, want) == NULL) {
        long left = deadline - now_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0 || rx_len + 1 >= sizeof rx)
            return 0;
        ssize_t n = read(fd, rx + rx_len, sizeof rx - rx_len - 1);
        if (n <= 0)
            return 0;
        rx_len += (size_t)n;
        rx[rx_len] = '\0';
    }
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s HOST PORT\n", argv[0]);
        return 2;
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        perror("connect");
        return 1;
    }
    if (!read_until(fd, "ready\r\n", 5000)) {
        printf("no ready; got: %s\n", rx);
        return 1;
    }
    rx_len = 0;
    rx[0] = '\0';
    const char at[] = "AT\r\n";
    if (write(fd, at, sizeof at - 1) != (ssize_t)(sizeof at - 1)) {
        perror("write");
        return 1;
    }
    if (!read_until(fd, "\r\nOK\r\n", 2000)) {
        printf("no OK; got: %s\n", rx);
        return 1;
    }
    printf("OK\n");
    close(fd);
    return 0;
}
