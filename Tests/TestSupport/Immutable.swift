//===----------------------------------------------------------------------===//
// ThingBridge — test helpers: a real write failure
//===----------------------------------------------------------------------===//

import Foundation

/// Makes a file refuse writes (`chattr +i`: EPERM even for root, even on an already open
/// descriptor) or accept them again. A real fault for sink tests, where running as root makes
/// permission bits useless.
/// - Returns: Whether `chattr` succeeded (the file system must support the flag; ext4 does).
@discardableResult
public func setImmutable(_ path: String, _ on: Bool) -> Bool {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/chattr")
    process.arguments = [on ? "+i" : "-i", path]
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return false }
    process.waitUntilExit()
    return process.terminationStatus == 0
}
