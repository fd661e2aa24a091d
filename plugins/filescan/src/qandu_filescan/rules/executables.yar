// Programs (Windows PE, Linux ELF, macOS Mach-O) under a name that does not say so, such as
// invoice.pdf or photo.jpg.  The external variables are set by the plugin for every scan:
// extension (lower case, without the dot), filename and mime_type.
rule disguised_executable
{
    meta:
        description = "an executable program disguised with a harmless file name"
    condition:
        (
            (uint16(0) == 0x5A4D and uint32(0x3C) + 4 <= filesize and uint32(uint32(0x3C)) == 0x00004550)
            or uint32(0) == 0x464C457F
            or uint32(0) == 0xFEEDFACE or uint32(0) == 0xFEEDFACF
            or uint32(0) == 0xCEFAEDFE or uint32(0) == 0xCFFAEDFE
        )
        and not extension matches /^(exe|dll|sys|com|scr|msi|efi|elf|so|o|bin|out|dylib|bundle)$/
}
