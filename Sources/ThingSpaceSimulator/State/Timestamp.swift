//===----------------------------------------------------------------------===//
// ThingBridge — ThingSpace simulator: RFC 3339 timestamps
//===----------------------------------------------------------------------===//

import Foundation

/// RFC 3339 timestamps with a fixed UTC offset, as ThingSpace writes them
/// (`2016-01-01T12:29:49-08:00`, whole seconds).
///
/// Formatted by hand rather than with `ISO8601DateFormatter`: a burst of 100k MO messages
/// formats one timestamp each, and the civil-date arithmetic below is a few integer
/// operations (Howard Hinnant's `civil_from_days`).
enum Timestamp {
    /// Parses `±HH:MM` (or `Z`) into seconds east of UTC.
    static func offsetSeconds(parsing text: String) -> Int? {
        if text == "Z" { return 0 }
        let chars = Array(text.utf8)
        guard chars.count == 6, chars[0] == UInt8(ascii: "+") || chars[0] == UInt8(ascii: "-"), chars[3] == UInt8(ascii: ":"),
              let hours = Int(String(decoding: chars[1...2], as: UTF8.self)),
              let minutes = Int(String(decoding: chars[4...5], as: UTF8.self)),
              hours <= 14, minutes < 60
        else { return nil }
        let seconds = hours * 3600 + minutes * 60
        return chars[0] == UInt8(ascii: "-") ? -seconds : seconds
    }

    /// Formats `date` in the zone `offsetSeconds` east of UTC.
    static func format(_ date: Date, offsetSeconds: Int) -> String {
        let local = Int(date.timeIntervalSince1970.rounded(.down)) + offsetSeconds
        let days = local >= 0 ? local / 86400 : (local - 86399) / 86400
        let secondOfDay = local - days * 86400
        let (year, month, day) = civil(fromDays: days)
        var text = ""
        text.reserveCapacity(25)
        text += pad(year, 4)
        text += "-" + pad(month, 2) + "-" + pad(day, 2)
        text += "T" + pad(secondOfDay / 3600, 2) + ":" + pad(secondOfDay % 3600 / 60, 2) + ":" + pad(secondOfDay % 60, 2)
        if offsetSeconds == 0 {
            text += "+00:00"
        } else {
            let magnitude = abs(offsetSeconds)
            text += (offsetSeconds < 0 ? "-" : "+") + pad(magnitude / 3600, 2) + ":" + pad(magnitude % 3600 / 60, 2)
        }
        return text
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    /// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
    private static func civil(fromDays days: Int) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
