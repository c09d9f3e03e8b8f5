// AddressSanitizer settings of deployd_http_cancel_asan_test: report use-after-free and abort;
// no leak check (LeakSanitizer needs ptrace, which containers often forbid).
extern "C" const char* __asan_default_options();
extern "C" const char* __asan_default_options() { return "detect_leaks=0:abort_on_error=0"; }
