"""PIU chat: a transport-independent conversation engine and its transports."""
