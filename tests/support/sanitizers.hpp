#pragma once
// Whether this tree is built with AddressSanitizer (CI's test tree is). Memory figures such as a
// process' peak RSS then measure the sanitizer's shadow memory and its quarantine of freed blocks
// as much as the program, so tests do not hold them to the program's own bounds.
namespace testsupport {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAddressSanitizer = true;
#else
inline constexpr bool kAddressSanitizer = false;
#endif

}  // namespace testsupport
