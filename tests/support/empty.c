/* Keeps the test-support library non-empty before any helper exists. */
typedef int ssogate_testsupport_empty;
