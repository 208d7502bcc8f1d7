; DataUploader: Windows installer (NSIS 3). Per-machine, 64-bit.
;
; Build (on Windows, after PyInstaller; see docs/deployment.md, "Windows"):
;
;   makensis /DVERSION=0.1.0 [/DSITE_CONFIG=C:\path\site.ini] [/DSTARTUP_ARGS="..."]
;            [/DPAYLOAD_DIR=..\..\dist\datauploader] [/DOUTFILE=...] installer\windows\datauploader.nsi
;
;   VERSION       required: shown in Add/Remove Programs
;   PAYLOAD_DIR   the PyInstaller folder (default: dist\datauploader beside the repository root)
;   SITE_CONFIG   a site configuration built into the installer and written, at every install,
;                 to %PROGRAMDATA%\DataUploader\datauploader.ini (the previous one kept as .bak)
;   STARTUP_ARGS  arguments of the "Start at login" shortcut (default: none, the window)
;   RCLONE        an rclone.exe to install beside the executables, where the rclone storage
;                 type finds it (default: none; rclone_path or PATH then)
;   OUTFILE       default: dist\DataUploader-VERSION-setup.exe
;   PUBLISHER     shown in Add/Remove Programs (default: DataUploader)
;
; Install (double-click, or unattended):
;
;   DataUploader-0.1.0-setup.exe [/S] [/SITECONFIG=\\server\share\site.ini] [/STARTATLOGIN]
;                                [/D=C:\Program Files\DataUploader]
;
;   /S             silent; /D= (last, unquoted) another folder
;   /SITECONFIG=   a site configuration to write to %PROGRAMDATA%\DataUploader\datauploader.ini
;                  (wins over one built in with SITE_CONFIG)
;   /STARTATLOGIN  also select the "Start at login" component (an update keeps an earlier
;                  choice: the component is preselected when its shortcut exists)
;
; Exit codes: 0 done, 1 cancelled, 2 error (a bad /SITECONFIG, DataUploader still running in
; silent mode, not 64-bit Windows).

Unicode true
ManifestDPIAware true
ManifestSupportedOS all

!include MUI2.nsh
!include FileFunc.nsh
!include LogicLib.nsh
!include x64.nsh

; Build-time paths: makensis runs on Windows (the real build) and on Linux (CI compiles the
; script over the Linux payload as a check), which want different separators.
!ifdef NSIS_WIN32_MAKENSIS
  !define SEP "\"
!else
  !define SEP "/"
!endif
; makensis works in the script's folder (unless /NOCD): relative paths, here and in /D
; options, are relative to installer\windows. Pass absolute ones to be safe.
!define REPO "..${SEP}.."

!ifndef VERSION
  !error "Give the version: makensis /DVERSION=x.y.z datauploader.nsi"
!endif
!ifndef PAYLOAD_DIR
  !define PAYLOAD_DIR "${REPO}${SEP}dist${SEP}datauploader"
!endif
!ifndef OUTFILE
  !define OUTFILE "${REPO}${SEP}dist${SEP}DataUploader-${VERSION}-setup.exe"
!endif
!ifndef STARTUP_ARGS
  !define STARTUP_ARGS ""
!endif
!ifndef PUBLISHER
  !define PUBLISHER "DataUploader"
!endif
!ifdef SITE_CONFIG
  !if /FileExists "${SITE_CONFIG}"
  !else
    !error "SITE_CONFIG: no such file: ${SITE_CONFIG}"
  !endif
!endif

!define APP "DataUploader"
!define GUI_EXE "datauploader-gui.exe"
!define CLI_EXE "datauploader.exe"
!define UNINSTALL_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\DataUploader"
!define RESOURCES "${REPO}${SEP}resources"
; With SetShellVarContext all, $APPDATA is C:\ProgramData: where datauploader/paths.py reads
; the system-wide configuration (%PROGRAMDATA%\DataUploader\datauploader.ini).
!define SITE_DIR "$APPDATA\DataUploader"
!define SITE_FILE "${SITE_DIR}\datauploader.ini"

Name "${APP} ${VERSION}"
OutFile "${OUTFILE}"
InstallDir "$PROGRAMFILES64\${APP}"
InstallDirRegKey HKLM "${UNINSTALL_KEY}" "InstallLocation"
RequestExecutionLevel admin
!ifdef NO_COMPRESSION  ; only for the compile check on Linux (installer/windows/check_nsis.sh)
  SetCompress off
!else
  SetCompressor /SOLID lzma
!endif
BrandingText "${APP} ${VERSION}"

Var SiteConfig  ; /SITECONFIG= given at install time

!define MUI_ICON "${RESOURCES}${SEP}datauploader.ico"
!define MUI_UNICON "${RESOURCES}${SEP}datauploader.ico"
!define MUI_ABORTWARNING
!define MUI_COMPONENTSPAGE_SMALLDESC
!insertmacro MUI_PAGE_WELCOME
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_COMPONENTS
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"

; A running executable cannot be opened for writing on Windows: use that to tell whether
; DataUploader is still running from the installation folder (an upload in progress resumes
; after the update, but the files cannot be replaced while it runs).
!macro _InUse FILE
  ${If} ${FileExists} "$INSTDIR\${FILE}"
    ClearErrors
    FileOpen $0 "$INSTDIR\${FILE}" a
    ${If} ${Errors}
      StrCpy $1 "${FILE}"
    ${Else}
      FileClose $0
    ${EndIf}
  ${EndIf}
!macroend
!macro WaitUntilClosed
  ${Do}
    StrCpy $1 ""  ; the executable found running, if any
    !insertmacro _InUse "${GUI_EXE}"
    !insertmacro _InUse "${CLI_EXE}"
    ${If} $1 == ""
      ${Break}
    ${EndIf}
    ${If} ${Cmd} `MessageBox MB_RETRYCANCEL|MB_ICONEXCLAMATION "${APP} is running ($1). Close it (also in the system tray; an upload in progress can be resumed later) and click Retry." /SD IDCANCEL IDCANCEL`
      SetErrorLevel 2
      Quit
    ${EndIf}
  ${Loop}
!macroend

Section "${APP} (required)" SecMain
  SectionIn RO
  !insertmacro WaitUntilClosed
  SetOutPath "$INSTDIR"
  ; An update replaces the program; remove the old version's files first (and only those).
  RMDir /r "$INSTDIR\_internal"
  File /r "${PAYLOAD_DIR}${SEP}*"
!ifdef RCLONE
  File "/oname=rclone.exe" "${RCLONE}"
!endif
  WriteUninstaller "$INSTDIR\uninstall.exe"

  CreateDirectory "$SMPROGRAMS\${APP}"
  CreateShortcut "$SMPROGRAMS\${APP}\${APP}.lnk" "$INSTDIR\${GUI_EXE}" "" "$INSTDIR\${GUI_EXE}" 0 \
    SW_SHOWNORMAL "" "Upload experimental data to the facility's storage and catalogue"
  CreateShortcut "$SMPROGRAMS\${APP}\Uninstall ${APP}.lnk" "$INSTDIR\uninstall.exe"

  WriteRegStr HKLM "${UNINSTALL_KEY}" "DisplayName" "${APP}"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "Publisher" "${PUBLISHER}"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "DisplayIcon" "$INSTDIR\${GUI_EXE},0"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKLM "${UNINSTALL_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKLM "${UNINSTALL_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKLM "${UNINSTALL_KEY}" "NoModify" 1
  WriteRegDWORD HKLM "${UNINSTALL_KEY}" "NoRepair" 1
  ${GetSize} "$INSTDIR" "/S=0K" $0 $1 $2
  WriteRegDWORD HKLM "${UNINSTALL_KEY}" "EstimatedSize" $0
SectionEnd

Section /o "Start at login (sync mode)" SecStartup
  ; For every user of this PC, in the all-users Startup folder (users can still switch it
  ; off in Task Manager's Startup tab).
  CreateShortcut "$SMSTARTUP\${APP}.lnk" "$INSTDIR\${GUI_EXE}" "${STARTUP_ARGS}" \
    "$INSTDIR\${GUI_EXE}" 0 SW_SHOWMINIMIZED
SectionEnd

Section "-Start at login off" SecStartupOff
  ; Unticked (interactive): remove the shortcut an earlier installation may have made.
  ${IfNot} ${SectionIsSelected} ${SecStartup}
    Delete "$SMSTARTUP\${APP}.lnk"
  ${EndIf}
SectionEnd

Section "-Site configuration" SecSite
  ${If} $SiteConfig != ""
    CreateDirectory "${SITE_DIR}"
    Delete "${SITE_FILE}.bak"
    Rename "${SITE_FILE}" "${SITE_FILE}.bak"
    CopyFiles /SILENT "$SiteConfig" "${SITE_FILE}"
    DetailPrint "Site configuration: ${SITE_FILE} (from $SiteConfig)"
  ${Else}
!ifdef SITE_CONFIG
    CreateDirectory "${SITE_DIR}"
    Delete "${SITE_FILE}.bak"
    Rename "${SITE_FILE}" "${SITE_FILE}.bak"
    SetOutPath "${SITE_DIR}"
    File "/oname=datauploader.ini" "${SITE_CONFIG}"
    SetOutPath "$INSTDIR"
    DetailPrint "Site configuration: ${SITE_FILE}"
!else
    ${If} ${FileExists} "${SITE_FILE}"
      DetailPrint "Site configuration kept: ${SITE_FILE}"
    ${EndIf}
!endif
  ${EndIf}
SectionEnd

Function .onInit
  ${IfNot} ${RunningX64}
    MessageBox MB_OK|MB_ICONSTOP "${APP} needs 64-bit Windows." /SD IDOK
    SetErrorLevel 2
    Abort
  ${EndIf}
  SetRegView 64
  SetShellVarContext all
  ${GetParameters} $R0
  ClearErrors
  ${GetOptions} $R0 "/SITECONFIG=" $SiteConfig
  ${If} ${Errors}
    StrCpy $SiteConfig ""
  ${ElseIfNot} ${FileExists} "$SiteConfig"
    MessageBox MB_OK|MB_ICONSTOP "The site configuration $SiteConfig does not exist." /SD IDOK
    SetErrorLevel 2
    Abort
  ${EndIf}
  ; "Start at login" is preselected when asked for, or when an earlier installation made it
  ; (so that an update, also a silent one, keeps the choice).
  ClearErrors
  ${GetOptions} $R0 "/STARTATLOGIN" $R1
  ${IfNot} ${Errors}
  ${OrIf} ${FileExists} "$SMSTARTUP\${APP}.lnk"
    !insertmacro SelectSection ${SecStartup}
  ${EndIf}
FunctionEnd

!insertmacro MUI_FUNCTION_DESCRIPTION_BEGIN
  !insertmacro MUI_DESCRIPTION_TEXT ${SecMain} "The ${APP} program, its Start-menu entry and uninstaller."
  !insertmacro MUI_DESCRIPTION_TEXT ${SecStartup} "Start ${APP} when any user logs in, so that uploads during acquisition (sync mode) continue after a restart."
!insertmacro MUI_FUNCTION_DESCRIPTION_END

Function un.onInit
  SetRegView 64
  SetShellVarContext all
FunctionEnd

Section "Uninstall"
  !insertmacro WaitUntilClosed
  Delete "$SMSTARTUP\${APP}.lnk"
  Delete "$SMPROGRAMS\${APP}\${APP}.lnk"
  Delete "$SMPROGRAMS\${APP}\Uninstall ${APP}.lnk"
  RMDir "$SMPROGRAMS\${APP}"
  ; Only what the installer put there; the folder itself only if it is then empty.
  Delete "$INSTDIR\${GUI_EXE}"
  Delete "$INSTDIR\${CLI_EXE}"
  Delete "$INSTDIR\rclone.exe"
  RMDir /r "$INSTDIR\_internal"
  Delete "$INSTDIR\uninstall.exe"
  SetOutPath "$TEMP"  ; a folder that is the current directory cannot be removed
  RMDir "$INSTDIR"
  DeleteRegKey HKLM "${UNINSTALL_KEY}"

  DetailPrint "Kept: each user's settings, upload journal, logs and local data (%LOCALAPPDATA%\datauploader),"
  DetailPrint "secrets in Windows Credential Manager, and the site configuration ${SITE_FILE}."
  MessageBox MB_OK|MB_ICONINFORMATION \
    "${APP} was removed.$\r$\n$\r$\nKept: each user's settings, upload journal, logs and local data (%LOCALAPPDATA%\datauploader in their profile), secrets in Windows Credential Manager, and the site configuration ${SITE_FILE}. Delete them yourself if they are no longer needed." \
    /SD IDOK
SectionEnd
