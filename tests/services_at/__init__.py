"""AT+CIPDOMAIN, AT+CIPDNS, AT+PING, SNTP, AT+CIPV6 / AT+CIFSR: engine and real tests."""
