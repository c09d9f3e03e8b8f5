// Owned by the deployd work: the one HTTP(S) client (Beast + OpenSSL). See http_client.hpp.
