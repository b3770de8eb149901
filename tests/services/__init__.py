"""Tests for the network service backends (resolver, ping, SNTP, netinfo) and test servers."""
