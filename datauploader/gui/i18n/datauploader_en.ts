<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1">
<context>
    <name>Banner</name>
    <message>
        <location filename="../mainwindow.py" line="45"/>
        <source>Resume</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="46"/>
        <source>Resume interrupted job</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="47"/>
        <source>Later</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="59"/>
        <source>Job {0} ({1} / {2}) was interrupted with {3} of {4} files done. Nothing is lost: resume it to finish the upload.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>DatasetView</name>
    <message>
        <location filename="../views/dataset.py" line="555"/>
        <source>Template</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="100"/>
        <source>Start from template</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="101"/>
        <source>Save as template…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="103"/>
        <source>Template:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="112"/>
        <source>Proposal</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="115"/>
        <source>type to search your proposals</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="120"/>
        <source>New…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="121"/>
        <source>Create a proposal/investigation in the catalogue</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="122"/>
        <source>Refresh</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="130"/>
        <source>Dataset name</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="133"/>
        <source>Description</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="138"/>
        <source>Dataset type</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="140"/>
        <source>Sample</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="142"/>
        <source>comma-separated</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="143"/>
        <source>Keywords</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="146"/>
        <source>Key</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="146"/>
        <source>Value</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="149"/>
        <source>Metadata</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="151"/>
        <source>+</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="152"/>
        <source>Add metadata</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="153"/>
        <source>−</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="154"/>
        <source>Remove metadata</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="164"/>
        <source>Dataset</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="166"/>
        <source>Proposal:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="168"/>
        <source>&amp;Name:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="170"/>
        <source>&amp;Description:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="171"/>
        <source>&amp;Type:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="172"/>
        <source>&amp;Sample:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="173"/>
        <source>&amp;Keywords:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="174"/>
        <source>Metadata:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="207"/>
        <source>Files and folders</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="180"/>
        <source>Drop files or folders here</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="181"/>
        <source>Add &amp;files…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="182"/>
        <source>Add f&amp;older…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="183"/>
        <source>&amp;Remove</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="190"/>
        <source>e.g. *.h5 scans/**/*.cbf (empty: everything)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="191"/>
        <source>Include patterns</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="193"/>
        <source>e.g. *.tmp ~* cache/</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="194"/>
        <source>Exclude patterns</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="422"/>
        <source>No files yet: drop files or folders on the list.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="205"/>
        <source>Where each file will land</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="212"/>
        <source>&amp;Include:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="213"/>
        <source>E&amp;xclude:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="220"/>
        <source>Upload at the &amp;end of the experiment</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="221"/>
        <source>S&amp;ync during acquisition</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="224"/>
        <source>Watching folders during acquisition comes with sync mode.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="229"/>
        <source>Start &amp;upload</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="233"/>
        <source>Start upload</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="302"/>
        <source>Could not list your proposals: {0}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="318"/>
        <source>New proposal</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="314"/>
        <source>Proposal number or name:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="318"/>
        <source>Title:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="344"/>
        <source>Add files</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="348"/>
        <source>Add folder</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="433"/>
        <source>Scanning…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="445"/>
        <source>{0} files, {1}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="447"/>
        <source>{0} warnings</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="459"/>
        <source>Cannot upload these files as they are:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="479"/>
        <source>Choose the proposal the data belongs to.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="482"/>
        <source>{0} is not one of your proposals; choose one from the list.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="486"/>
        <source>Give the dataset a name.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="489"/>
        <source>A dataset name cannot be &apos;.&apos; or &apos;..&apos; or contain &apos;/&apos; or &apos;\&apos;.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="495"/>
        <source>Each metadata key may appear only once.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="498"/>
        <source>Add at least one file or folder.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="525"/>
        <source>The patterns leave no file to upload.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="536"/>
        <source>Save as template</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="536"/>
        <source>Template name (beamline or experiment):</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>ErrorStrip</name>
    <message>
        <location filename="../views/progress.py" line="31"/>
        <source>&amp;Retry</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="32"/>
        <source>Retry</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="33"/>
        <source>Dismiss</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>HistoryView</name>
    <message>
        <location filename="../views/history.py" line="39"/>
        <source>Jobs</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="42"/>
        <source>Job details</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="43"/>
        <source>&amp;Resume</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="44"/>
        <source>&amp;Verify</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="45"/>
        <source>Read every file back from storage and compare checksums</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="46"/>
        <source>&amp;Export report…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="47"/>
        <source>Re&amp;fresh</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="62"/>
        <source>&lt;h3&gt;History&lt;/h3&gt;</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="103"/>
        <source>No job selected.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="114"/>
        <source>Job {0}: {1}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="115"/>
        <source>Dataset: {0} / {1} (catalogue id {2})</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="117"/>
        <source>Catalogue: {0}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="118"/>
        <source>Storage: {0}, prefix {1}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="119"/>
        <source>Started {0}, finished {1}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="120"/>
        <source>Files: {0} ({1}): {2}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="125"/>
        <source>Outcome: {0}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="130"/>
        <source>  … and {0} more (export the report)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="144"/>
        <source>Verifying job {0}: reading every file back…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="152"/>
        <source>Job {0}: {1} of {2} files verified; {3} problems:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="160"/>
        <source>Job {0}: all {1} files verified against storage.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="175"/>
        <source>Export report</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="175"/>
        <source>CSV (*.csv);;JSON (*.json)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="187"/>
        <source>Report of {0} files written to {1}.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>LoginView</name>
    <message>
        <location filename="../views/login.py" line="25"/>
        <source>&lt;h2&gt;Log in&lt;/h2&gt;</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/login.py" line="27"/>
        <source>Profile</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/login.py" line="38"/>
        <source>&amp;Profile:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/login.py" line="43"/>
        <source>This profile needs no login.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/login.py" line="45"/>
        <source>&amp;Remember me (the secret is kept in the OS keyring)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/login.py" line="46"/>
        <source>Remember me</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/login.py" line="139"/>
        <source>&amp;Log in</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/login.py" line="50"/>
        <source>Log in</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/login.py" line="61"/>
        <source>Login error</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/login.py" line="107"/>
        <source>Files go to {0}; datasets are registered in {1}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/login.py" line="109"/>
        <source>Asking the catalogue how to log in…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/login.py" line="129"/>
        <source>leave empty to use the remembered one</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/login.py" line="139"/>
        <source>&amp;Continue</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/login.py" line="162"/>
        <source>Logging in…</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>MainWindow</name>
    <message>
        <location filename="../mainwindow.py" line="88"/>
        <source>Sections</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="92"/>
        <source>Dataset</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="92"/>
        <source>Progress</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="92"/>
        <source>History</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="134"/>
        <source>&amp;File</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="135"/>
        <source>&amp;Settings…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="139"/>
        <source>Log &amp;out</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="143"/>
        <source>&amp;Quit</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="147"/>
        <source>&amp;View</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="148"/>
        <source>&amp;Dataset</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="148"/>
        <source>&amp;Progress</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="148"/>
        <source>&amp;History</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="155"/>
        <source>&amp;Help</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="156"/>
        <source>Open the &amp;log folder</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="160"/>
        <source>&amp;About DataUploader</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="161"/>
        <source>About DataUploader</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="161"/>
        <source>DataUploader {0}

Gets experimental data safely into facility storage and data catalogues.

Journal: {1}
Log: {2}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="185"/>
        <source>Profile {0}, logged in as {1}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="191"/>
        <source>Log out</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="191"/>
        <source>Wait for the running upload to finish first.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="240"/>
        <source>Upload running</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="240"/>
        <source>One upload at a time: wait for the running one to finish, or cancel it.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="246"/>
        <source>Resume</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="246"/>
        <source>Job {0} belongs to profile &apos;{1}&apos;: log in with that profile to resume it.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="250"/>
        <source>{0} / {1} (resumed)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="254"/>
        <source>Cancel upload</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="254"/>
        <source>Stop this upload? Files already uploaded stay, and the job can be resumed later from the history.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="269"/>
        <source>Upload finished</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="269"/>
        <source>Upload stopped</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="270"/>
        <source>Job {0}: {1} files uploaded and registered.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="277"/>
        <source>{0}
Log in again, then press Retry in the progress view.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="293"/>
        <source>DataUploader: {0} % of job {1}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="309"/>
        <source>An upload is running</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="310"/>
        <source>An upload is running. What should happen to it?</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="313"/>
        <source>Keep uploading in the background</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="315"/>
        <source>Stop it and quit (resume later)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="317"/>
        <source>Don&apos;t quit</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="323"/>
        <source>Still uploading</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="323"/>
        <source>DataUploader keeps uploading in the background; click the tray icon to open it.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>ProgressView</name>
    <message>
        <location filename="../views/progress.py" line="75"/>
        <source>&lt;h3&gt;No upload running&lt;/h3&gt;</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="79"/>
        <source>Overall progress</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="166"/>
        <source>&amp;Pause</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="94"/>
        <source>Pause or resume</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="95"/>
        <source>&amp;Cancel</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="96"/>
        <source>Cancel upload</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="103"/>
        <source>Show files</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="104"/>
        <source>All files</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="104"/>
        <source>In progress</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="104"/>
        <source>Failed</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="104"/>
        <source>Done</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="113"/>
        <source>Files</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="121"/>
        <source>Log</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="122"/>
        <source>Retries, failures and other events appear here.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="130"/>
        <source>Show:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="155"/>
        <source>Job {0} started.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="169"/>
        <source>&amp;Resume</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="175"/>
        <source>{0} / {1} files</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="175"/>
        <source>, {0} failed</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="179"/>
        <source>paused</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="180"/>
        <source>ETA {0}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="180"/>
        <source>ETA --</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="191"/>
        <source>done in {0}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="192"/>
        <source>Job {0} completed: {1} files.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="196"/>
        <source>Job {0} {1}.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>SettingsDialog</name>
    <message>
        <location filename="../dialogs/settings.py" line="16"/>
        <source>Settings</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/settings.py" line="35"/>
        <source>Locked by the system configuration ({0}).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/settings.py" line="46"/>
        <source>Saved to {0}; a profile&apos;s own values still apply to that profile.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>excepthook</name>
    <message>
        <location filename="../excepthook.py" line="30"/>
        <source>DataUploader: unexpected error</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../excepthook.py" line="31"/>
        <source>Something unexpected went wrong: {0}

Uploads already done are safe, and a running job can be resumed. The details are in the log file:
{1}</source>
        <translation type="unfinished"></translation>
    </message>
</context>
</TS>
