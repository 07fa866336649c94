<?php
/*
 * SimpleSAMLphp 1.19 (Debian package) configuration for a loopback test IdP.
 * Selected with SIMPLESAMLPHP_CONFIG_DIR=<this directory>; nothing under
 * /etc/simplesamlphp or /usr/share/simplesamlphp is touched.
 * All runtime state lives in ../../work/ssp (created by start-idp.sh).
 */
$idpHost = getenv('IDP_HOST') ?: '127.0.0.1';
$idpPort = getenv('IDP_PORT') ?: '18200';
$work    = getenv('IDP_WORK') ?: dirname(__DIR__, 2) . '/work/ssp';

$config = [
    // Absolute base URL: SimpleSAMLphp does not have to guess host/port/scheme
    // from the php -S request (and the URLs in metadata stay stable).
    'baseurlpath' => "http://$idpHost:$idpPort/",

    'certdir'           => "$work/cert/",
    'loggingdir'        => "$work/log/",
    'datadir'           => "$work/data/",
    'tempdir'           => "$work/tmp",
    'metadatadir'       => dirname(__DIR__) . '/metadata/',

    'technicalcontact_name'  => 'Test IdP',
    'technicalcontact_email' => 'na@example.org',
    'timezone' => 'UTC',

    // Generated once per work/ directory by start-idp.sh.
    'secretsalt'          => trim((string) @file_get_contents("$work/secretsalt")),
    'auth.adminpassword'  => trim((string) @file_get_contents("$work/adminpassword")),
    'admin.protectindexpage' => false,
    'admin.protectmetadata'  => false,
    'admin.checkforupdates'  => false,

    'enable.saml20-idp' => true,
    'enable.shib13-idp' => false,
    'enable.adfs-idp'   => false,

    'module.enable' => [
        'exampleauth' => true,
        'core'        => true,
        'saml'        => true,
        'admin'       => true,
    ],

    'debug' => ['saml' => false, 'backtraces' => true, 'validatexml' => false],
    'showerrors'     => true,
    'errorreporting' => false,
    'production'     => false,

    'logging.level'   => SimpleSAML\Logger::INFO,
    'logging.handler' => 'file',
    'logging.logfile' => 'simplesamlphp.log',
    'statistics.out'  => [],

    // --- cookies on plain http://127.0.0.1 -----------------------------
    // Debian's default is secure=true + SameSite=None.  Over http SSP then
    // refuses to set the cookie (or Chromium drops "SameSite=None" without
    // "Secure") and the login ends in "State information lost".
    'session.cookie.secure'   => false,
    'session.cookie.samesite' => 'Lax',
    'session.cookie.name'     => 'SimpleSAMLSessionID',
    'session.phpsession.cookiename' => 'SimpleSAML',
    'session.phpsession.savepath'   => "$work/sessions",
    'session.phpsession.httponly'   => true,
    'session.authtoken.cookiename'  => 'SimpleSAMLAuthToken',
    'language.cookie.secure'   => false,
    'language.cookie.samesite' => 'Lax',

    'store.type' => 'phpsession',

    'language.available' => ['en'],
    'language.default'   => 'en',
    'theme.use' => 'default',
    'template.auto_reload' => false,

    // Extra SP metadata from XML (e.g. what the SP under test publishes):
    // IDP_SP_METADATA_XML=/path/to/sp.xml; it takes precedence over
    // metadata/saml20-sp-remote.php for the same entityID.
    'metadata.sources' => array_merge(
        getenv('IDP_SP_METADATA_XML')
            ? [['type' => 'xml', 'file' => getenv('IDP_SP_METADATA_XML')]]
            : [],
        [['type' => 'flatfile']]
    ),
    'metadata.sign.enable' => false,
];
