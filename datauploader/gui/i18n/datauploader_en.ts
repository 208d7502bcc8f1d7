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
        <location filename="../views/dataset.py" line="230"/>
        <source>Start &amp;upload</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="234"/>
        <source>Start upload</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="303"/>
        <source>Could not list your proposals: {0}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="319"/>
        <source>New proposal</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="315"/>
        <source>Proposal number or name:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="319"/>
        <source>Title:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="345"/>
        <source>Add files</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="349"/>
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
    <message>
        <location filename="../views/dataset.py" line="223"/>
        <source>Upload everything selected, once.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/dataset.py" line="224"/>
        <source>Watch the folders and upload each new or modified file as soon as it is complete, until you press Finish.</source>
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
        <location filename="../views/history.py" line="40"/>
        <source>Jobs</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="43"/>
        <source>Job details</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="44"/>
        <source>&amp;Resume</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="48"/>
        <source>&amp;Verify</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="49"/>
        <source>Read every file back from storage and compare checksums</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="50"/>
        <source>&amp;Export report…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="51"/>
        <source>Re&amp;fresh</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="66"/>
        <source>&lt;h3&gt;History&lt;/h3&gt;</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="110"/>
        <source>No job selected.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="125"/>
        <source>Job {0}: {1}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="126"/>
        <source>Dataset: {0} / {1} (catalogue id {2})</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="128"/>
        <source>Catalogue: {0}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="129"/>
        <source>Storage: {0}, prefix {1}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="130"/>
        <source>Started {0}, finished {1}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="131"/>
        <source>Files: {0} ({1}): {2}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="136"/>
        <source>Outcome: {0}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="141"/>
        <source>  … and {0} more (export the report)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="155"/>
        <source>Verifying job {0}: reading every file back…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="163"/>
        <source>Job {0}: {1} of {2} files verified; {3} problems:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="171"/>
        <source>Job {0}: all {1} files verified against storage.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="186"/>
        <source>Export report</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="186"/>
        <source>CSV (*.csv);;JSON (*.json)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="198"/>
        <source>Report of {0} files written to {1}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="45"/>
        <source>F&amp;inish</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="46"/>
        <source>Sync mode: a last look at the folders, upload what remains, mark the dataset complete</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/history.py" line="117"/>
        <source>Watch the folders again</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>HostKeyDialog</name>
    <message>
        <location filename="../dialogs/hostkey.py" line="20"/>
        <source>Unknown SFTP server</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/hostkey.py" line="23"/>
        <source>DataUploader has not connected to &lt;b&gt;{0}:{1}&lt;/b&gt; before. Before anything is sent to it, make sure it is really your facility&apos;s server: compare the fingerprint below with the one your facility publishes (web page, IT department).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/hostkey.py" line="34"/>
        <source>Host key fingerprint</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/hostkey.py" line="38"/>
        <source>Server:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/hostkey.py" line="39"/>
        <source>Key type:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/hostkey.py" line="40"/>
        <source>Fingerprint:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/hostkey.py" line="42"/>
        <source>If the fingerprints differ, do not trust this server: someone may be intercepting the connection.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/hostkey.py" line="48"/>
        <source>&amp;Trust and connect</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>LoginView</name>
    <message>
        <location filename="../views/login.py" line="26"/>
        <source>&lt;h2&gt;Log in&lt;/h2&gt;</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/login.py" line="28"/>
        <source>Profile</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/login.py" line="39"/>
        <source>&amp;Profile:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/login.py" line="44"/>
        <source>This profile needs no login.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/login.py" line="46"/>
        <source>&amp;Remember me (the secret is kept in the OS keyring)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/login.py" line="47"/>
        <source>Remember me</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/login.py" line="140"/>
        <source>&amp;Log in</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/login.py" line="51"/>
        <source>Log in</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/login.py" line="62"/>
        <source>Login error</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/login.py" line="108"/>
        <source>Files go to {0}; datasets are registered in {1}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/login.py" line="110"/>
        <source>Asking the catalogue how to log in…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/login.py" line="130"/>
        <source>leave empty to use the remembered one</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/login.py" line="140"/>
        <source>&amp;Continue</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/login.py" line="163"/>
        <source>Logging in…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/login.py" line="203"/>
        <source>The key could not be recorded in {0}: {1}</source>
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
        <location filename="../mainwindow.py" line="136"/>
        <source>&amp;File</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="137"/>
        <source>&amp;Settings…</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="141"/>
        <source>Log &amp;out</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="145"/>
        <source>&amp;Quit</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="149"/>
        <source>&amp;View</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="150"/>
        <source>&amp;Dataset</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="150"/>
        <source>&amp;Progress</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="150"/>
        <source>&amp;History</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="157"/>
        <source>&amp;Help</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="158"/>
        <source>Open the &amp;log folder</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="162"/>
        <source>&amp;About DataUploader</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="163"/>
        <source>About DataUploader</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="163"/>
        <source>DataUploader {0}

Gets experimental data safely into facility storage and data catalogues.

Journal: {1}
Log: {2}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="187"/>
        <source>Profile {0}, logged in as {1}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="193"/>
        <source>Log out</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="193"/>
        <source>Wait for the running upload to finish first.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="260"/>
        <source>Upload running</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="260"/>
        <source>One upload at a time: wait for the running one to finish, or cancel it.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="249"/>
        <source>Resume</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="249"/>
        <source>Job {0} belongs to profile &apos;{1}&apos;: log in with that profile to resume it.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="253"/>
        <source>{0} / {1} (resumed)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="269"/>
        <source>Cancel upload</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="269"/>
        <source>Stop this upload? Files already uploaded stay, and the job can be resumed later from the history.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="290"/>
        <source>Upload finished</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="290"/>
        <source>Upload stopped</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="291"/>
        <source>Job {0}: {1} files uploaded and registered.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="298"/>
        <source>{0}
Log in again, then press Retry in the progress view.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="314"/>
        <source>DataUploader: {0} % of job {1}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="330"/>
        <source>An upload is running</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="331"/>
        <source>An upload is running. What should happen to it?</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="334"/>
        <source>Keep uploading in the background</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="336"/>
        <source>Stop it and quit (resume later)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="338"/>
        <source>Don&apos;t quit</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="344"/>
        <source>Still uploading</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="344"/>
        <source>DataUploader keeps uploading in the background; click the tray icon to open it.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="269"/>
        <source>Stop watching</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../mainwindow.py" line="269"/>
        <source>Stop watching the folders? Files already uploaded stay and the dataset stays open: resume the job from the history to watch again, or Finish it then.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>ProgressView</name>
    <message>
        <location filename="../views/progress.py" line="146"/>
        <source>&lt;h3&gt;No upload running&lt;/h3&gt;</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="150"/>
        <source>Overall progress</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="250"/>
        <source>&amp;Pause</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="165"/>
        <source>Pause or resume</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="236"/>
        <source>&amp;Cancel</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="167"/>
        <source>Cancel upload</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="176"/>
        <source>Show files</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="177"/>
        <source>All files</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="177"/>
        <source>In progress</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="177"/>
        <source>Failed</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="177"/>
        <source>Done</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="186"/>
        <source>Files</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="194"/>
        <source>Log</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="195"/>
        <source>Retries, failures and other events appear here.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="203"/>
        <source>Show:</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="239"/>
        <source>Job {0} started.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="253"/>
        <source>&amp;Resume</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="266"/>
        <source>{0} / {1} files</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="266"/>
        <source>, {0} failed</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="270"/>
        <source>paused</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="271"/>
        <source>ETA {0}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="271"/>
        <source>ETA --</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="291"/>
        <source>done in {0}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="292"/>
        <source>Job {0} completed: {1} files.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="296"/>
        <source>Job {0} {1}.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="235"/>
        <source>&amp;Finish</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="236"/>
        <source>Stop &amp;watching</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="262"/>
        <source>{0} of {1} seen files uploaded</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="275"/>
        <source>watching</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="279"/>
        <source>(the newest {0:,} finished files; the job&apos;s report in History lists every file)</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>SettingsDialog</name>
    <message>
        <location filename="../dialogs/settings.py" line="17"/>
        <source>Settings</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/settings.py" line="39"/>
        <source>Locked by the system configuration ({0}).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../dialogs/settings.py" line="50"/>
        <source>Saved to {0}; a profile&apos;s own values still apply to that profile.</source>
        <translation type="unfinished"></translation>
    </message>
</context>
<context>
    <name>SyncPanel</name>
    <message>
        <location filename="../views/progress.py" line="85"/>
        <source>&amp;Finish</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="87"/>
        <source>Finish the dataset</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="88"/>
        <source>The experiment is over: a last look at the folders, upload what remains, mark the dataset complete.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="107"/>
        <source>file-system events</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="107"/>
        <source>polling</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="108"/>
        <source>watching</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="108"/>
        <source>NOT AVAILABLE</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="113"/>
        <source>{0} seen · {1} waiting to settle · {2} queued · {3} uploaded</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="116"/>
        <source> · {0} failed</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="118"/>
        <source> · {0} changed after upload, left alone</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="122"/>
        <source>Last file detected: {0}, {1} s ago</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="125"/>
        <source>No file detected yet.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="128"/>
        <source>No new file has arrived for a while: is the acquisition still running?</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../views/progress.py" line="132"/>
        <source>Finishing…</source>
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
